package inventory

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tillid/tillid/internal/tag"
)

// Policy is a set of rules every register entry must meet, read from a
// small JSON file:
//
//	{
//	  "rules": [
//	    {"name": "purpose", "require": ["purpose", "basis"]},
//	    {"name": "art9", "classes": ["health", "special"], "require_any": ["subject", "aad", "retain"]}
//	  ]
//	}
//
// A rule applies to the fields of the listed classes (every field when
// classes is empty or absent). A field meets it when it has every
// attribute of require and, when require_any is given, at least one of
// require_any. Attributes: purpose, basis, retain, from, class, subject,
// aad, subjects. Unknown keys, attributes or classes are errors.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Rule is one rule of a Policy.
type Rule struct {
	// Name names the rule in violations; names are distinct.
	Name string `json:"name"`
	// Classes are the class= categories the rule applies to; empty means
	// every field.
	Classes []string `json:"classes,omitempty"`
	// Require are attributes a field must all have.
	Require []string `json:"require,omitempty"`
	// RequireAny are attributes a field must have one of.
	RequireAny []string `json:"require_any,omitempty"`
}

// Violation is one field breaking one rule.
type Violation struct {
	Position string // file:line of the field
	Path     string
	Rule     string
	Missing  []string // what it lacks: all of require it lacks, or require_any
	AnyOf    bool     // Missing is require_any: one of them would do
}

// String writes v as "file:line: path: rule NAME: needs ...".
func (v Violation) String() string {
	need := "needs " + strings.Join(v.Missing, " and ")
	if v.AnyOf {
		need = "needs one of " + strings.Join(v.Missing, ", ")
	}
	return fmt.Sprintf("%s: %s: rule %s: %s", v.Position, v.Path, v.Rule, need)
}

// attributes says, for each attribute a rule may name, whether a field has it.
var attributes = map[string]func(Field) bool{
	"purpose":  func(f Field) bool { return len(f.Purposes) > 0 },
	"basis":    func(f Field) bool { return f.Basis != "" },
	"retain":   func(f Field) bool { return f.Retain != "" },
	"from":     func(f Field) bool { return f.From != "" },
	"class":    func(f Field) bool { return f.Class != "" },
	"subject":  func(f Field) bool { return f.Subject != "" },
	"aad":      func(f Field) bool { return f.AAD != "" },
	"subjects": func(f Field) bool { return len(f.Subjects) > 0 },
}

// ReadPolicy reads and checks a Policy from r.
func ReadPolicy(r io.Reader) (*Policy, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("inventory: policy: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("inventory: policy: more than one JSON value")
	}
	if len(p.Rules) == 0 {
		return nil, fmt.Errorf("inventory: policy: no rules")
	}
	names := map[string]bool{}
	for i, r := range p.Rules {
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("inventory: policy: rule %d has no name", i+1)
		case names[r.Name]:
			return nil, fmt.Errorf("inventory: policy: two rules are named %q", r.Name)
		case len(r.Require) == 0 && len(r.RequireAny) == 0:
			return nil, fmt.Errorf("inventory: policy: rule %s requires nothing; give require or require_any", r.Name)
		}
		names[r.Name] = true
		for _, a := range slices.Concat(r.Require, r.RequireAny) {
			if attributes[a] == nil {
				known := make([]string, 0, len(attributes))
				for k := range attributes {
					known = append(known, k)
				}
				sort.Strings(known)
				return nil, fmt.Errorf("inventory: policy: rule %s: unknown attribute %q; use %s", r.Name, a, strings.Join(known, ", "))
			}
		}
		for _, c := range r.Classes {
			if !slices.Contains(tag.Classes(), c) {
				return nil, fmt.Errorf("inventory: policy: rule %s: unknown class %q; use %s", r.Name, c, strings.Join(tag.Classes(), ", "))
			}
		}
	}
	return &p, nil
}

// Check returns the violations of p by the fields of r, ordered by
// position, path and rule.
func (p *Policy) Check(r *Register) []Violation {
	var out []Violation
	for _, f := range r.Fields {
		for _, rule := range p.Rules {
			if len(rule.Classes) > 0 && !slices.Contains(rule.Classes, f.Class) {
				continue
			}
			var missing []string
			for _, a := range rule.Require {
				if !attributes[a](f) {
					missing = append(missing, a)
				}
			}
			if len(missing) > 0 {
				out = append(out, Violation{Position: f.Position, Path: f.Path, Rule: rule.Name, Missing: missing})
			}
			if len(rule.RequireAny) > 0 && !slices.ContainsFunc(rule.RequireAny, func(a string) bool { return attributes[a](f) }) {
				out = append(out, Violation{Position: f.Position, Path: f.Path, Rule: rule.Name, Missing: rule.RequireAny, AnyOf: true})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := comparePositions(a.Position, b.Position); c != 0 {
			return c < 0
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Rule < b.Rule
	})
	return out
}

// comparePositions orders file:line positions by file, then by line as a
// number (a.go:9 before a.go:10).
func comparePositions(a, b string) int {
	fa, la, _ := strings.Cut(a, ":")
	fb, lb, _ := strings.Cut(b, ":")
	if fa != fb {
		return strings.Compare(fa, fb)
	}
	na, _ := strconv.Atoi(la)
	nb, _ := strconv.Atoi(lb)
	return na - nb
}
