package pii

import (
	"database/sql"
	"fmt"
	"reflect"
	"time"

	"github.com/tillid/tillid/internal/tag"
)

// parseDefaults parses the tag of the struct's blank field `_ struct{}`,
// its struct-level default of purpose=, basis=, retain=, from= and
// subjects=; a struct has at most one.
func (p *typePlan) parseDefaults(raw string) error {
	if !p.defaults.IsZero() {
		return fmt.Errorf("a struct has one struct-level default (a blank field); merge this one into the first")
	}
	t, err := tag.Parse(raw)
	if err != nil {
		return err
	}
	if !tag.IsDefaults(t) {
		return fmt.Errorf("a blank field's tag holds only purpose=, basis=, retain=, from= and subjects= (got %q)", t.Action.Name)
	}
	d, err := tag.ParseDefaults(t)
	if err != nil {
		return err
	}
	if d.IsZero() {
		return fmt.Errorf("empty struct-level default")
	}
	p.defaults = d
	return nil
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	nullTimeType = reflect.TypeFor[sql.NullTime]()
)

// bindProcessing checks what the processing options of p's fields name in
// the struct (from= a time field) and binds the subject fields.
func (p *typePlan) bindProcessing() error {
	check := func(path, from string) error {
		if from == "" {
			return nil
		}
		sf, ok := p.typ.FieldByName(from)
		t := sf.Type
		if ok && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if !ok || len(sf.Index) != 1 || !sf.IsExported() || (t != timeType && t != nullTimeType) {
			return &FieldError{Type: p.typ, Path: path, Err: fmt.Errorf("%w: from=%s: want an exported time.Time, *time.Time or sql.NullTime field of %s", ErrInvalidTag, from, typeName(p.typ))}
		}
		return nil
	}
	if err := check(typeName(p.typ)+"._", p.defaults.From); err != nil {
		return err
	}
	for _, f := range p.fields {
		if f.act != nil {
			if err := check(typeName(p.typ)+"."+f.name, f.tag.proc.From); err != nil {
				return err
			}
		}
	}
	return p.bindSubjects()
}
