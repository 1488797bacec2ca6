package tillidgorm

import (
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// This file reveals associations that a query loaded into its records
// itself: Joins scans an association's columns into the record's field,
// where no statement of the association's own reveals them. Preload runs
// a query per association, revealed as any other; associations that were
// not loaded are left alone (see scope).

// revealJoins reveals, in the rows a query with Joins scanned, each
// joined association (nested ones too) whose primary key was read: one
// that the join did not match, or did not select, is left as it is.
func (pl *Plugin) revealJoins(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || len(stmt.Joins) == 0 || stmt.Schema == nil || db.RowsAffected == 0 {
		return
	}
	rows := reflect.ValueOf(stmt.Dest)
	if !rows.IsValid() || rows.Kind() != reflect.Pointer || rows.IsNil() {
		return
	}
	roots := records(rows.Elem(), stmt.Schema.ModelType)
	done := map[string]bool{}
	for _, j := range stmt.Joins {
		path := strings.Split(j.Name, ".")
		s, level := stmt.Schema, roots
		for i, name := range path {
			rel, ok := s.Relationships.Relations[name]
			if !ok || rel.Field == nil || rel.FieldSchema == nil {
				break // a join written as SQL, not an association
			}
			next := associated(db, level, rel)
			key := strings.Join(path[:i+1], ".")
			if !done[key] {
				done[key] = true
				if err := pl.revealAssociated(db, rel.FieldSchema, next); err != nil {
					db.AddError(err)
					return
				}
			}
			s, level = rel.FieldSchema, next
		}
	}
}

// records returns the addressable structs of type t that v holds: v
// itself, or the elements of a slice or array of them or of pointers to
// them.
func records(v reflect.Value, t reflect.Type) []reflect.Value {
	var out []reflect.Value
	add := func(e reflect.Value) {
		e = reflect.Indirect(e)
		if e.IsValid() && e.Type() == t && e.CanAddr() {
			out = append(out, e)
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		add(v)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			add(v.Index(i))
		}
	}
	return out
}

// associated returns the values of relationship rel in owners that hold
// a record: a non-nil pointer or a struct whose primary key is set.
func associated(db *gorm.DB, owners []reflect.Value, rel *schema.Relationship) []reflect.Value {
	ctx := db.Statement.Context
	var out []reflect.Value
	for _, o := range owners {
		v := rel.Field.ReflectValueOf(ctx, o)
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				continue
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct || !v.CanAddr() || v.Type() != rel.FieldSchema.ModelType {
			continue // has many and many to many cannot be joined
		}
		loaded := len(rel.FieldSchema.PrimaryFields) > 0
		for _, pf := range rel.FieldSchema.PrimaryFields {
			if _, zero := pf.ValueOf(ctx, v); zero {
				loaded = false
			}
		}
		if loaded {
			out = append(out, v)
		}
	}
	return out
}

// revealAssociated reveals the records vals of schema s, all or nothing,
// leaving their own associations alone.
func (pl *Plugin) revealAssociated(db *gorm.DB, s *schema.Schema, vals []reflect.Value) error {
	m := pl.modelOf(s)
	if len(m.columns) == 0 || len(vals) == 0 {
		return nil
	}
	ptrs := reflect.MakeSlice(reflect.SliceOf(reflect.PointerTo(s.ModelType)), len(vals), len(vals))
	for i, v := range vals {
		ptrs.Index(i).Set(v.Addr())
	}
	ctx := pl.withoutAssociations(db.Statement.Context, m)
	filled := pl.fillEmpty(ctx, m, ptrs)
	defer func() {
		for _, f := range filled {
			f.SetString("")
		}
	}()
	holder := reflect.New(ptrs.Type())
	holder.Elem().Set(ptrs)
	return pl.p.Reveal(ctx, holder.Interface())
}

// unscannedRecord reports whether a query read no row into a struct (a
// First of nothing, FirstOrInit or FirstOrCreate of a missing record): the
// struct holds the caller's values or zeros, not stored forms, and must
// not be revealed.
func unscannedRecord(db *gorm.DB) bool {
	if db.Error != nil || db.RowsAffected != 0 || db.Statement.Dest == nil {
		return false
	}
	t := reflect.TypeOf(db.Statement.Dest)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}
