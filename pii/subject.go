package pii

import (
	"fmt"

	"github.com/tillid/tillid/internal/tag"
)

// subjectAction, written "subject", marks the field that holds the ID of
// the data subject a record is about (a string, an integer or an
// encoding.TextMarshaler). The field itself is not transformed and
// Redacted shows it, as "-". In its struct, encrypt and deterministic
// fields are sealed under that subject's keys (see [WithSubjectKeys]); a
// struct with several subject fields names one per field with subject=.
// Under Forget the ID stays: it is how a deleted row is found.
//
// It has no check, so the plan leaves the field out of the walk;
// bindSubjects checks its type.
var subjectAction = &action{
	name:   tag.SubjectAction,
	source: sourcePlain,
}

// isSubjectTag reports whether raw is the tag of a subject field.
func isSubjectTag(raw string) bool {
	t, err := tag.Parse(raw)
	return err == nil && t.Action.Name == tag.SubjectAction
}

// bindSubjects points every encrypt and deterministic field of p at its
// subject field: the one named by subject=, else the struct's only subject
// field. A struct with several subject fields must name one per field.
func (p *typePlan) bindSubjects() error {
	var subjects []int
	for i, ft := range p.tags {
		if ft != nil && ft.act == subjectAction {
			if f := p.typ.Field(i); !isIDType(f.Type) {
				return &FieldError{Type: p.typ, Path: typeName(p.typ) + "." + f.Name, Err: fmt.Errorf("%w: subject is for a string, an integer or an encoding.TextMarshaler field, not %s", ErrInvalidTag, f.Type)}
			}
			subjects = append(subjects, i)
		}
	}
	for _, f := range p.fields {
		if f.act == nil || !f.act.reversible() {
			continue
		}
		fail := func(format string, args ...any) error {
			return &FieldError{Type: p.typ, Path: typeName(p.typ) + "." + f.name, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTag}, args...)...)}
		}
		switch name := f.tag.subjectField; {
		case name != "":
			sf, ok := p.typ.FieldByName(name)
			if !ok || len(sf.Index) != 1 || p.tags[sf.Index[0]] == nil || p.tags[sf.Index[0]].act != subjectAction {
				return fail("subject=%s: %s has no field %s tagged `pii:\"subject\"`", name, typeName(p.typ), name)
			}
			f.subjectIndex = sf.Index[0]
		case len(subjects) == 1:
			f.subjectIndex = subjects[0]
		case len(subjects) > 1:
			return fail("%s has %d subject fields; say whose data this is with subject=<Field>", typeName(p.typ), len(subjects))
		}
	}
	return nil
}
