package tag

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
var flagOptions = []string{"migrate", "lowcardinality", "plainkeys"}

// SubjectAction is the action of the field that holds the ID of the data
// subject a record is about: `pii:"subject"`. It takes no value and only
// the processing options.
const SubjectAction = "subject"

// processing are the options that say why and how long a field is held
// (purpose=, basis=, retain=, from=); every action but "-" accepts them.
var processing = []string{"purpose", "basis", "retain", "from", "then"}

// withProcessing returns opts followed by the processing options.
func withProcessing(opts ...string) []string { return append(opts, processing...) }

var actions = []Action{
	{Name: "encrypt", Options: withProcessing("class", "key", "aad", "maxlen", "migrate", "subject", "mask", "view", "plainkeys")},
	{Name: "deterministic", Options: withProcessing("class", "key", "aad", "maxlen", "migrate", "lowcardinality", "normalize", "subject", "mask", "view", "plainkeys")},
	{Name: "index", Value: ValueFields, Options: withProcessing("class", "key", "normalize", "bits", "part", "lowcardinality")},
	{Name: "pseudonym", Options: withProcessing("class", "key", "normalize", "bits", "lowcardinality", "plainkeys")},
	{Name: "hash", Options: withProcessing("class", "key", "normalize", "bits", "lowcardinality", "plainkeys"), AliasOf: "pseudonym"},
	{Name: "tokenize", Value: ValueDomain, Options: withProcessing("class", "format", "aad", "migrate", "subject", "mask", "view", "plainkeys")},
	{Name: "redact", Options: withProcessing("class", "mask", "view", "plainkeys")},
	{Name: SubjectAction, Options: withProcessing("mask", "view")},
	{Name: HoldAction},
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
		if r.Sight == SightUnknown || !isName(role) || slices.ContainsFunc(rules, func(x ViewRule) bool { return x.Role == role }) {
			return nil, fmt.Errorf("view=%s: want role:sight items joined with '+', each role once, a role a name such as support and a sight plain, mask or hide", spec)
		}
		rules = append(rules, r)
	}
	return rules, nil
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
// from 1 to MaxBits, normalize rule chains, part=, and the processing
// options of [Processing]), each option at most once, and no purpose= on
// the subject field. It does not look at
// Go types: whether the field's type suits the action, and whether aad=,
// subject=, from= and index= name real fields, is checked by package pii.
// A struct-level default (see [IsDefaults]) is checked by [ParseDefaults]
// instead. Errors match ErrSchema,
// and quote only the tag, which is source code and never a field value.
func CheckStatic(t Tag) error {
	a, ok := LookupAction(t.Action.Name)
	if !ok {
		return schemaErrorf("unknown action %q; use encrypt, deterministic, index=<Field>, pseudonym, tokenize=<domain>, redact or -; or subject for the data subject's ID", t.Action.Name)
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
	if _, ok := t.Option("purpose"); ok && a.Name == SubjectAction {
		return schemaErrorf("subject,purpose=...: the subject field holds the data subject's ID, which no purpose's key seals and Withdraw never erases; drop purpose= here and put it on the fields sealed under the subject's keys")
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
	case "subject":
		if !isGoIdent(o.Value) {
			return fmt.Errorf("subject=%s: want the name of the subject field of the same struct", o.Value)
		}
	default:
		if slices.Contains(defaultOptions, o.Name) {
			return new(Processing).set(o)
		}
	}
	return nil
}

// Bases returns the lawful bases of GDPR Art. 6(1) that basis= accepts, in
// the order of the article, (a) consent to (f) legitimate interests, as a
// fresh slice.
func Bases() []string { return slices.Clone(bases) }

var bases = []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"}

// defaultOptions are the options a struct-level default may hold: the
// processing options and subjects=.
var defaultOptions = []string{"purpose", "basis", "retain", "from", "then", "subjects"}

// Processing is what a tag says about why and how long a field is held:
// its processing options. The zero Processing says nothing.
type Processing struct {
	// Purposes are the purpose= names, in written order: distinct names of
	// a-z, 0-9, '_' and '-' starting with a letter.
	Purposes []string
	// Basis is the basis= lawful basis, one of [Bases], or "".
	Basis string
	// Retain is the retain= period as written ("90d", "26w", "2y", "720h").
	Retain string
	// RetainFor is Retain as a duration (see [ParseRetention]).
	RetainFor time.Duration
	// From is the from= field that retention is counted from: a Go
	// identifier, checked against the struct by the caller.
	From string
	// Subjects are the subjects= categories of data subjects (struct-level
	// defaults only).
	Subjects []string
	// Then is what happens at the end of Retain: one of [Thens], or "" for
	// the default (redact on a field; on a struct-level default, only
	// "delete" is a record rule). See retention.go.
	Then string
}

// ProcessingOf returns the processing options of a tag that [CheckStatic]
// accepted (for any other tag, what of them parses).
func ProcessingOf(t Tag) Processing {
	var p Processing
	for _, o := range t.Options {
		if slices.Contains(processing, o.Name) {
			_ = p.set(o)
		}
	}
	return p
}

// IsDefaults reports whether t is a struct-level default: a tag whose first
// item is one of purpose=, basis=, retain=, from= and subjects=, as in
// `pii:"purpose=billing,basis=contract"` on a blank field `_ struct{}`.
func IsDefaults(t Tag) bool {
	return t.Action.HasValue && slices.Contains(defaultOptions, t.Action.Name)
}

// ParseDefaults parses and checks the tag of a struct-level default: every
// item is one of purpose=, basis=, retain=, from= and subjects=. A struct
// has at most one (its callers check that). Errors match ErrSchema.
func ParseDefaults(t Tag) (Processing, error) {
	var p Processing
	for _, o := range append([]Item{t.Action}, t.Options...) {
		if !slices.Contains(defaultOptions, o.Name) {
			return Processing{}, schemaErrorf("%q is not a struct-level default; a blank field's tag holds only %s", o.Name, strings.Join(defaultOptions, ", "))
		}
		if err := p.set(o); err != nil {
			return Processing{}, schemaErrorf("%w", err)
		}
	}
	return p, nil
}

// Merge returns p with what it leaves unsaid taken from d: a field's own
// options win over its struct's default, which wins over the defaults of
// enclosing structs.
func (p Processing) Merge(d Processing) Processing {
	if p.Purposes == nil {
		p.Purposes = d.Purposes
	}
	if p.Basis == "" {
		p.Basis = d.Basis
	}
	if p.Retain == "" {
		p.Retain, p.RetainFor = d.Retain, d.RetainFor
	}
	if p.From == "" {
		p.From = d.From
	}
	if p.Subjects == nil {
		p.Subjects = d.Subjects
	}
	if p.Then == "" {
		p.Then = d.Then
	}
	return p
}

func (p *Processing) set(o Item) error {
	if !o.HasValue {
		return fmt.Errorf("option %s needs a value, as in %s=...", o.Name, o.Name)
	}
	switch o.Name {
	case "purpose", "subjects":
		names := strings.Split(o.Value, "+")
		for i, n := range names {
			if !isName(n) || slices.Contains(names[:i], n) {
				return fmt.Errorf("%s=%s: want distinct names of a-z, 0-9, '_' and '-', starting with a letter, joined with '+'", o.Name, o.Value)
			}
		}
		if o.Name == "purpose" {
			p.Purposes = names
		} else {
			p.Subjects = names
		}
	case "basis":
		if !slices.Contains(bases, o.Value) {
			return fmt.Errorf("basis=%s: want one of %s (GDPR Art. 6(1))", o.Value, strings.Join(bases, ", "))
		}
		p.Basis = o.Value
	case "retain":
		d, err := ParseRetention(o.Value)
		if err != nil {
			return err
		}
		p.Retain, p.RetainFor = o.Value, d
	case "then":
		if !slices.Contains(thens, o.Value) {
			return fmt.Errorf("then=%s: want %s", o.Value, strings.Join(thens, ", "))
		}
		p.Then = o.Value
	case "from":
		if !isGoIdent(o.Value) {
			return fmt.Errorf("from=%s: want the name of a time field of the same struct", o.Value)
		}
		p.From = o.Value
	}
	return nil
}

// ParseRetention parses a retain= period: a positive whole number of days,
// weeks or years written without leading zeros ("90d", "26w", "2y"; a day
// is 24 h, a week 7 days, a year 365 days), or a Go duration of at least an
// hour ("720h"), so that "2m" meant as two months is an error and not two
// minutes.
func ParseRetention(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	units := map[byte]time.Duration{'d': day, 'w': 7 * day, 'y': 365 * day}
	if n := len(s); n > 1 {
		if unit, ok := units[s[n-1]]; ok {
			v, err := strconv.Atoi(s[:n-1])
			if err == nil && v > 0 && strconv.Itoa(v) == s[:n-1] && int64(v) <= int64(1<<62)/int64(unit) {
				return time.Duration(v) * unit, nil
			}
			return 0, fmt.Errorf("retain=%s: want a positive whole number before %c, as in 90d, 26w or 2y", s, s[n-1])
		}
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < time.Hour {
		return 0, fmt.Errorf("retain=%s: shorter than an hour; months are no unit (write 60d), and a Go duration must be 1h or more", s)
	}
	if err != nil {
		return 0, fmt.Errorf("retain=%s: want days, weeks or years (90d, 26w, 2y) or a positive Go duration (720h)", s)
	}
	return d, nil
}

// IsPurpose reports whether s is a name purpose= can declare: a-z, 0-9,
// '_' and '-', starting with a letter ("billing", "direct-marketing").
// Withdraw and the CLI refuse any other, which no field can have.
func IsPurpose(s string) bool { return isName(s) }

func isName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

func isGoIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// IsZero reports whether p says nothing.
func (p Processing) IsZero() bool {
	return p.Purposes == nil && p.Basis == "" && p.Retain == "" && p.From == "" && p.Subjects == nil && p.Then == ""
}
