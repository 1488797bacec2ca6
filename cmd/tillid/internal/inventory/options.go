package inventory

import (
	"time"

	"github.com/tillid/tillid/internal/tag"
)

// The processing options (purpose=, basis=, retain=, from=, the subject
// action and struct-level defaults) are defined once, in internal/tag,
// which package pii parses its tags with too; this file names them for
// the register.

// Bases are the lawful bases of GDPR Art. 6(1) that basis= accepts, in the
// order of the article: (a) consent to (f) legitimate interests.
var Bases = tag.Bases()

// SubjectAction is the action of the field that holds the ID of the data
// subject a record is about: `pii:"subject"`.
const SubjectAction = tag.SubjectAction

// Processing is what a tag says about why and how long a field is held
// (tag.Processing). The zero Processing says nothing.
type Processing = tag.Processing

// IsDefaults reports whether t is a struct-level default: a tag whose first
// item is a processing option, as in `pii:"purpose=billing,basis=contract"`
// on a blank field.
func IsDefaults(t tag.Tag) bool { return tag.IsDefaults(t) }

// ParseDefaults parses the tag of a struct-level default (the blank field
// `_ struct{} `pii:"..."“): every item is one of purpose=, basis=,
// retain=, from= and subjects=.
func ParseDefaults(t tag.Tag) (Processing, error) { return tag.ParseDefaults(t) }

// ParseRetention parses a retain= period (tag.ParseRetention): a positive
// whole number of days, weeks or years ("90d", "26w", "2y"; a year is 365
// days), or a Go duration of at least an hour ("720h").
func ParseRetention(s string) (time.Duration, error) { return tag.ParseRetention(s) }

// CheckTag checks the syntax and schema of a field's pii tag without
// reflection, exactly as the runtime does (tag.Parse, then
// tag.CheckStatic), and returns the parsed tag and its processing options.
// Struct-level defaults are checked by ParseDefaults instead.
func CheckTag(raw string) (tag.Tag, Processing, error) {
	t, err := tag.Parse(raw)
	if err != nil {
		return tag.Tag{}, Processing{}, err
	}
	if err := tag.CheckStatic(t); err != nil {
		return tag.Tag{}, Processing{}, err
	}
	return t, tag.ProcessingOf(t), nil
}
