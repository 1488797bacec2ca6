package tillidgorm

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/tillid/tillid/pii"
)

// This file reveals rows read for one tagged model into a struct of
// another tagged type (db.Model(&Customer{}).Select("id, name").Scan(&rows)
// with rows a []Row). The stored forms are bound to the model they were
// written through (its type name is part of their associated data), so
// Reveal with the other type's plan fails as if they had been tampered
// with. When the other type's protected fields are the model's (same
// column, Go type and pii tag), the rows are revealed through the model;
// otherwise the failure says what is wrong.

// fieldPair is a column of a destination type and the model field of the
// same column.
type fieldPair struct {
	dest, own *schema.Field
	protected bool
}

// pairFields returns the columns dest's records take from own's, or why
// dest cannot be revealed through own: a protected column of either that
// the other lacks, or holds with another Go type or pii tag, or a record ID
// (aad=) or subject a protected column is bound to that dest lacks.
func pairFields(own, dest *model) ([]fieldPair, error) {
	var pairs []fieldPair
	paired := map[string]bool{} // own field names
	for _, df := range dest.schema.Fields {
		if df.DBName == "" {
			continue
		}
		of := own.schema.FieldsByDBName[df.DBName]
		dc, oc := dest.columns[df.DBName], own.columns[df.DBName]
		if dc == nil && oc == nil {
			if of != nil && of.FieldType == df.FieldType {
				pairs = append(pairs, fieldPair{dest: df, own: of})
				paired[of.Name] = true
			}
			continue
		}
		switch {
		case of == nil:
			return nil, fmt.Errorf("%s has no column %s", own.schema.Name, df.DBName)
		case dc == nil || oc == nil:
			return nil, fmt.Errorf("%s.%s and %s.%s (column %s) differ in their pii tags", dest.schema.Name, df.Name, own.schema.Name, of.Name, df.DBName)
		case of.FieldType != df.FieldType:
			return nil, fmt.Errorf("%s.%s is a %s and %s.%s a %s (column %s)", dest.schema.Name, df.Name, df.FieldType, own.schema.Name, of.Name, of.FieldType, df.DBName)
		case df.Tag.Get("pii") != of.Tag.Get("pii"):
			return nil, fmt.Errorf("%s.%s and %s.%s (column %s) differ in their pii tags", dest.schema.Name, df.Name, own.schema.Name, of.Name, df.DBName)
		}
		pairs = append(pairs, fieldPair{dest: df, own: of, protected: true})
		paired[of.Name] = true
	}
	for _, p := range pairs {
		if !p.protected {
			continue
		}
		if c := own.columns[p.own.DBName]; c.aad != "" && !paired[c.aad] {
			return nil, fmt.Errorf("%s.%s is bound to its record's %s.%s (aad=), which %s does not hold", own.schema.Name, p.own.Name, own.schema.Name, c.aad, dest.schema.Name)
		}
		if own.subject != nil && !paired[own.subject.Name] {
			return nil, fmt.Errorf("%s.%s is bound to its subject %s.%s, which %s does not hold", own.schema.Name, p.own.Name, own.schema.Name, own.subject.Name, dest.schema.Name)
		}
	}
	return pairs, nil
}

// revealThrough reveals the records rv points to (a struct or a slice or
// array of structs or pointers to them, of dest's type) that were read for
// model own: through own's plan when pairFields allows, with dest's
// otherwise, and then a failure to decrypt is explained. On failure the
// records are left as read.
func (pl *Plugin) revealThrough(db *gorm.DB, ctx context.Context, own, dest *model, rv reflect.Value) error {
	pairs, why := pairFields(own, dest)
	if why != nil {
		err := pl.revealOwn(ctx, dest, rv)
		if errors.Is(err, pii.ErrDecryption) {
			return fmt.Errorf("%w: rows of %s read into %s: %v; stored values are bound to the model they were written through, so %s cannot reveal them: scan into %s (or a struct whose protected fields have %s's column, Go type and pii tag), or read the stored forms into an untagged struct: %w", ErrRefused, own.schema.Name, dest.schema.Name, why, dest.schema.Name, own.schema.Name, own.schema.Name, err)
		}
		return err
	}
	var rows []reflect.Value
	switch e := rv.Elem(); e.Kind() {
	case reflect.Struct:
		rows = []reflect.Value{e}
	case reflect.Slice, reflect.Array:
		rows = make([]reflect.Value, 0, e.Len())
		for i := range e.Len() {
			if row := reflect.Indirect(e.Index(i)); row.IsValid() {
				rows = append(rows, row)
			}
		}
	}
	recs := reflect.New(reflect.SliceOf(own.schema.ModelType))
	recs.Elem().Set(reflect.MakeSlice(recs.Elem().Type(), len(rows), len(rows)))
	for i, row := range rows {
		rec := recs.Elem().Index(i)
		for _, p := range pairs {
			p.own.ReflectValueOf(ctx, rec).Set(p.dest.ReflectValueOf(ctx, row))
		}
	}
	if err := pl.revealValue(db, ctx, own.schema, recs.Interface()); err != nil {
		return err
	}
	for i, row := range rows {
		if !row.CanSet() {
			continue
		}
		rec := recs.Elem().Index(i)
		for _, p := range pairs {
			if p.protected {
				p.dest.ReflectValueOf(ctx, row).Set(p.own.ReflectValueOf(ctx, rec))
			}
		}
	}
	return nil
}

// statementModel returns the schema of the statement's model
// (db.Model(&m)), which the rows were read for: Scan replaces the
// statement's schema with its destination's.
func statementModel(db *gorm.DB) *schema.Schema {
	stmt := db.Statement
	s := stmt.Schema
	t := elemType(stmt.Model)
	if t == nil || t.Kind() != reflect.Struct || s != nil && s.ModelType == t {
		return s
	}
	st := &gorm.Statement{DB: db}
	if err := st.Parse(stmt.Model); err != nil {
		return s
	}
	return st.Schema
}
