package tag

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tillid/tillid/keys"
)

// This file is the schema of tillid tags that needs no reflection: which
// actions exist, which options each accepts and the syntax of every option
// value. Package pii checks tags with [CheckStatic] before it looks at the
// field's Go type, and static tools (tillid vet) call the same function to
// report invalid tags at compile time, so that both always agree.

// ValueKind says what the value of an action (the part after "=" in
// "index=Email") holds.
type ValueKind uint8

const (
	// ValueNone is an action written without a value, such as "encrypt".
	ValueNone ValueKind = iota
	// ValueFields is a list of distinct field names of the same struct,
	// joined with '+': "index=Name+Born".
	ValueFields
	// ValueDomain is a token domain name: "tokenize=card".
	ValueDomain
)

// Action is the schema of one action.
type Action struct {
	// Name is the action as written in tags, such as "encrypt" or "-".
	Name string
	// Value says whether the action takes a value, and of which kind.
	Value ValueKind
	// Options are the option names the action accepts, in the order the
	// documentation lists them.
	Options []string
	// AliasOf, when not empty, names the action this one is a deprecated
	// alias of: it reads and writes the same stored values.
	AliasOf string
}

// Options and whether they are flags (written without a value).
var flagOptions = []string{"migrate", "lowcardinality"}

var actions = []Action{
	{Name: "encrypt", Options: []string{"class", "key", "aad", "maxlen", "migrate", "mask", "view"}},
	{Name: "deterministic", Options: []string{"class", "key", "aad", "maxlen", "migrate", "lowcardinality", "normalize", "mask", "view"}},
	{Name: "index", Value: ValueFields, Options: []string{"class", "key", "normalize", "bits", "part", "lowcardinality"}},
	{Name: "pseudonym", Options: []string{"class", "key", "normalize", "bits", "lowcardinality"}},
	{Name: "hash", Options: []string{"class", "key", "normalize", "bits", "lowcardinality"}, AliasOf: "pseudonym"},
	{Name: "tokenize", Value: ValueDomain, Options: []string{"class", "format", "aad", "migrate", "mask", "view"}},
	{Name: "redact", Options: []string{"class", "mask", "view"}},
	{Name: "-"},
}

// Actions returns the schema of every action, the deprecated aliases
// included. The result is a fresh copy: changing it changes nothing.
func Actions() []Action {
	out := make([]Action, len(actions))
	for i, a := range actions {
		a.Options = slices.Clone(a.Options)
		out[i] = a
	}
	return out
}

// LookupAction returns the schema of the action named name (a copy), and
// false when there is none.
func LookupAction(name string) (Action, bool) {
	for _, a := range actions {
		if a.Name == name {
			a.Options = slices.Clone(a.Options)
			return a, true
		}
	}
	return Action{}, false
}

var classes = []string{"contact", "identity", "financial", "health", "national_id", "location", "special"}

// Classes returns the data categories the class= option accepts, as a fresh
// slice.
func Classes() []string { return slices.Clone(classes) }

var normalizeRules = []string{"trim", "nfkc", "lower", "email", "digits"}

// NormalizeRules returns the rule names the normalize= option accepts (a
// '+'-joined chain of them), as a fresh slice.
func NormalizeRules() []string { return slices.Clone(normalizeRules) }

var maskKinds = []string{"email", "phone", "card", "card-6-4", "iban", "cpr", "ssn", "name", "first", "text", "year", "month"}

// MaskKinds returns the display masks the mask= option accepts, as a fresh
// slice. What each shows is documented by package pii.
func MaskKinds() []string { return slices.Clone(maskKinds) }

// Sight is how one audience of a view= option sees a field.
type Sight uint8

const (
	// SightUnknown is the invalid zero Sight.
	SightUnknown Sight = iota
	// SightPlain shows the value as it is.
	SightPlain
	// SightMask shows the field's mask= of the value.
	SightMask
	// SightHide shows neither.
	SightHide
)

// ViewRule is one role's entry in a view= option.
type ViewRule struct {
	Role  string
	Sight Sight
}

// ParseView parses the value of a view= option: role:sight items joined
// with '+', where a role is a name ([a-z][a-z0-9_-]*, each role once) and a
// sight is plain, mask or hide: "support:mask+billing:plain".
func ParseView(spec string) ([]ViewRule, error) {
	var rules []ViewRule
	for _, item := range strings.Split(spec, "+") {
		role, sight, _ := strings.Cut(item, ":")
		r := ViewRule{Role: role}
		switch sight {
		case "plain":
			r.Sight = SightPlain
		case "mask":
			r.Sight = SightMask
		case "hide":
			r.Sight = SightHide
		}
		if r.Sight == SightUnknown || !isRoleName(role) || slices.ContainsFunc(rules, func(x ViewRule) bool { return x.Role == role }) {
			return nil, fmt.Errorf("view=%s: want role:sight items joined with '+', each role once, a role a name such as support and a sight plain, mask or hide", spec)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// isRoleName reports whether s is a name of [a-z][a-z0-9_-]*.
func isRoleName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-')) {
			return false
		}
	}
	return true
}

// MaxBits is the largest bits= value: the 256 bits of HMAC-SHA256.
const MaxBits = 256

// PartKind is the kind of a part= option.
type PartKind uint8

const (
	// PartNone is the zero PartKind: no part= option.
	PartNone PartKind = iota
	// PartDomain keeps what follows the last '@' ("" without one).
	PartDomain
	// PartLocal keeps what precedes the last '@' (all without one).
	PartLocal
	// PartFirst keeps the first N characters.
	PartFirst
	// PartLast keeps the last N characters.
	PartLast
)

// Part is a parsed part= option.
type Part struct {
	Kind PartKind
	// N is the number of characters (runes) of PartFirst and PartLast,
	// 1 to 64.
	N int
}

// ParsePart parses the value of a part= option: domain, local, firstN or
// lastN with N from 1 to 64 written without leading zeros.
func ParsePart(spec string) (Part, error) {
	switch spec {
	case "domain":
		return Part{Kind: PartDomain}, nil
	case "local":
		return Part{Kind: PartLocal}, nil
	}
	for _, k := range []PartKind{PartFirst, PartLast} {
		prefix := "first"
		if k == PartLast {
			prefix = "last"
		}
		if rest, ok := strings.CutPrefix(spec, prefix); ok {
			n, err := strconv.Atoi(rest)
			if err == nil && n >= 1 && n <= 64 && strconv.Itoa(n) == rest {
				return Part{Kind: k, N: n}, nil
			}
		}
	}
	return Part{}, fmt.Errorf("part=%s: use domain, local, firstN or lastN (N from 1 to 64 characters)", spec)
}

// ErrSchema is matched (errors.Is) by every error CheckStatic returns.
// Their text is the rule broken and its fix alone, without a prefix, so
// that callers can put it after their own.
var ErrSchema = errors.New("tag schema")

type schemaError struct{ err error }

func (e schemaError) Error() string        { return e.err.Error() }
func (e schemaError) Is(target error) bool { return target == ErrSchema }
func (e schemaError) Unwrap() error        { return e.err }

func schemaErrorf(format string, args ...any) error {
	return schemaError{fmt.Errorf(format, args...)}
}

// CheckStatic checks a parsed tag against the schema: a known action, a
// value where the action needs one (and only there), only options the
// action accepts, flags without a value and other options with one, and
// each option value's syntax (class names, key names, positive maxlen, bits
// from 1 to MaxBits, normalize rule chains, part=). It does not look at Go
// types: whether the field's type suits the action, and whether aad= and
// index= name real fields, is checked by package pii. Errors match ErrSchema,
// and quote only the tag, which is source code and never a field value.
func CheckStatic(t Tag) error {
	a, ok := LookupAction(t.Action.Name)
	if !ok {
		return schemaErrorf("unknown action %q; use encrypt, deterministic, index=<Field>, pseudonym, tokenize=<domain>, redact or -", t.Action.Name)
	}
	switch {
	case a.Value == ValueFields && !t.Action.HasValue:
		return schemaErrorf("%s needs its source field, as in index=Email or index=Name+Born", a.Name)
	case a.Value == ValueDomain && !t.Action.HasValue:
		return schemaErrorf("%s needs its domain, as in tokenize=card", a.Name)
	case a.Value == ValueNone && t.Action.HasValue:
		return schemaErrorf("action %s takes no value (%q)", a.Name, t.Action)
	case a.Value == ValueFields:
		srcs := strings.Split(t.Action.Value, "+")
		for i, src := range srcs {
			if src == "" || slices.Contains(srcs[:i], src) {
				return schemaErrorf("%s=%s: source fields are distinct field names joined with '+'", a.Name, t.Action.Value)
			}
		}
	}
	for _, o := range t.Options {
		if err := checkOption(a, o); err != nil {
			return schemaErrorf("%w", err)
		}
	}
	if o, ok := t.Option("view"); ok {
		if _, hasMask := t.Option("mask"); !hasMask && strings.Contains(o.Value, ":mask") {
			return schemaErrorf("view=%s: a role that sees the field masked needs mask=<kind> on the field", o.Value)
		}
	}
	return nil
}

func checkOption(a Action, o Item) error {
	if !slices.Contains(a.Options, o.Name) {
		if len(a.Options) == 0 {
			return fmt.Errorf("unknown option %q for %s; it accepts none", o.Name, a.Name)
		}
		return fmt.Errorf("unknown option %q for %s; it accepts: %s", o.Name, a.Name, strings.Join(a.Options, ", "))
	}
	flag := slices.Contains(flagOptions, o.Name)
	if flag && o.HasValue {
		return fmt.Errorf("option %s takes no value (%q)", o.Name, o)
	}
	if !flag && !o.HasValue {
		return fmt.Errorf("option %s needs a value, as in %s=...", o.Name, o.Name)
	}
	switch o.Name {
	case "class":
		if !slices.Contains(classes, o.Value) {
			return fmt.Errorf("unknown class %q; use one of %s", o.Value, strings.Join(classes, ", "))
		}
	case "key":
		if keys.CheckKeyName(o.Value) != nil {
			return fmt.Errorf("key=%s: key names are 1 to 64 characters of a-z, 0-9, '_', '.', '-'", o.Value)
		}
	case "maxlen":
		if n, err := strconv.Atoi(o.Value); err != nil || n <= 0 {
			return fmt.Errorf("maxlen=%s: want a positive number of bytes", o.Value)
		}
	case "bits":
		if n, err := strconv.Atoi(o.Value); err != nil || n < 1 || n > MaxBits {
			return fmt.Errorf("bits=%s: want 1 to %d; see pii.RecommendBits", o.Value, MaxBits)
		}
	case "normalize":
		for _, name := range strings.Split(o.Value, "+") {
			if !slices.Contains(normalizeRules, name) {
				return fmt.Errorf("normalize=%s: unknown rule %q; use %s, joined with '+'", o.Value, name, strings.Join(normalizeRules, ", "))
			}
		}
	case "part":
		if _, err := ParsePart(o.Value); err != nil {
			return err
		}
	case "mask":
		if !slices.Contains(maskKinds, o.Value) {
			return fmt.Errorf("unknown mask %q; use one of %s", o.Value, strings.Join(maskKinds, ", "))
		}
	case "view":
		if _, err := ParseView(o.Value); err != nil {
			return err
		}
	}
	return nil
}
