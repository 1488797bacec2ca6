package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillid/tillid/internal/tag"
)

// Bases are the lawful bases of GDPR Art. 6(1) that basis= accepts, in the
// order of the article: (a) consent to (f) legitimate interests.
var Bases = []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"}

// SubjectAction is the action of the field that holds the ID of the data
// subject a record is about: `pii:"subject"`.
const SubjectAction = "subject"

// Processing is what a tag says about why and how long a field is held.
// The zero Processing says nothing.
type Processing struct {
	// Purposes are the purpose= names, in written order.
	Purposes []string
	// Basis is the basis= lawful basis, one of Bases, or "".
	Basis string
	// Retain is the retain= period as written ("90d", "26w", "2y", "720h").
	Retain string
	// RetainFor is Retain as a duration; a day is 24 h, a week 7 days and
	// a year 365 days.
	RetainFor time.Duration
	// From is the from= field that retention is counted from.
	From string
	// Subjects are the subjects= categories of data subjects (struct-level
	// defaults only).
	Subjects []string
}

// processingOptions are the options this package reads; tag.CheckStatic
// checks the others.
var processingOptions = []string{"purpose", "basis", "retain", "from"}

// defaultOptions are the options a struct-level default may hold.
var defaultOptions = []string{"purpose", "basis", "retain", "from", "subjects"}

// SplitProcessing parses the processing options of a field's tag (purpose=,
// basis=, retain=, from=) and returns them with the rest of the tag, for
// tag.CheckStatic. Errors name the option and its fix.
func SplitProcessing(t tag.Tag) (Processing, tag.Tag, error) {
	var p Processing
	rest := tag.Tag{Action: t.Action}
	for _, o := range t.Options {
		if !slices.Contains(processingOptions, o.Name) {
			rest.Options = append(rest.Options, o)
			continue
		}
		if err := p.set(o); err != nil {
			return Processing{}, tag.Tag{}, err
		}
	}
	return p, rest, nil
}

// IsDefaults reports whether t is a struct-level default: a tag whose first
// item is a processing option, as in `pii:"purpose=billing,basis=contract"`
// on a blank field.
func IsDefaults(t tag.Tag) bool {
	return t.Action.HasValue && slices.Contains(defaultOptions, t.Action.Name)
}

// ParseDefaults parses the tag of a struct-level default (the blank field
// `_ struct{} `pii:"..."“): every item is one of purpose=, basis=,
// retain=, from= and subjects=.
func ParseDefaults(t tag.Tag) (Processing, error) {
	var p Processing
	for _, o := range append([]tag.Item{t.Action}, t.Options...) {
		if !slices.Contains(defaultOptions, o.Name) {
			return Processing{}, fmt.Errorf("%q is not a struct-level default; a blank field's tag holds only %s", o.Name, strings.Join(defaultOptions, ", "))
		}
		if err := p.set(o); err != nil {
			return Processing{}, err
		}
	}
	return p, nil
}

func (p *Processing) set(o tag.Item) error {
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
		if !slices.Contains(Bases, o.Value) {
			return fmt.Errorf("basis=%s: want one of %s (GDPR Art. 6(1))", o.Value, strings.Join(Bases, ", "))
		}
		p.Basis = o.Value
	case "retain":
		d, err := ParseRetention(o.Value)
		if err != nil {
			return err
		}
		p.Retain, p.RetainFor = o.Value, d
	case "from":
		if !isGoIdent(o.Value) {
			return fmt.Errorf("from=%s: want the name of a time field of the same struct", o.Value)
		}
		p.From = o.Value
	}
	return nil
}

// ParseRetention parses a retain= period: a positive whole number of days,
// weeks or years ("90d", "26w", "2y"; a year is 365 days), or a Go duration
// of at least an hour ("720h"), so that "2m" meant as two months is an
// error and not two minutes.
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

// merge returns p with what it leaves unsaid taken from d.
func (p Processing) merge(d Processing) Processing {
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
	return p
}

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

// CheckTag checks the syntax and schema of a field's pii tag without
// reflection, as the runtime will: tag.Parse, the processing options of
// this package, a `pii:"subject"` field, and tag.CheckStatic for the rest.
// It returns the parsed tag and its processing options. Struct-level
// defaults are checked by ParseDefaults instead.
func CheckTag(raw string) (tag.Tag, Processing, error) {
	t, err := tag.Parse(raw)
	if err != nil {
		return tag.Tag{}, Processing{}, err
	}
	p, rest, err := SplitProcessing(t)
	if err != nil {
		return tag.Tag{}, Processing{}, err
	}
	if t.Action.Name == SubjectAction {
		if t.Action.HasValue || len(rest.Options) > 0 {
			return tag.Tag{}, Processing{}, fmt.Errorf("subject takes no value and no options but purpose=, basis=, retain= and from=")
		}
		return t, p, nil
	}
	if err := tag.CheckStatic(rest); err != nil {
		return tag.Tag{}, Processing{}, err
	}
	return t, p, nil
}
