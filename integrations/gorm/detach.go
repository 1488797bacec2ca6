package tillidgorm

import (
	"context"
	"reflect"
	"sync"

	"gorm.io/gorm/schema"
)

// This file keeps the caller's memory out of what Protect writes. A
// statement's protected record is a copy of the caller's, and a copy of a
// struct shares what its fields point to: Protect would write ciphertexts
// through a *string, a *pii.Text, a []string or a map into the caller's
// variables (and into every other record sharing the pointee). detach
// gives the copy memory of its own.

// refsCache holds, by reflect.Type, whether a value of the type reaches
// memory it shares with its copies (see holdsRefs).
var refsCache sync.Map // reflect.Type → bool

// holdsRefs reports whether a copy of a value of type t shares memory with
// it that a write through the copy's exported fields could change: t is, or
// holds in exported struct fields or array elements, a pointer, slice, map
// or interface. Unexported fields (time.Time's location, pii.Value's state)
// are not written through by Protect and are not counted; strings are
// immutable.
func holdsRefs(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	case reflect.Array:
		return holdsRefs(t.Elem())
	case reflect.Struct:
	default:
		return false
	}
	if v, ok := refsCache.Load(t); ok {
		return v.(bool)
	}
	refs := false
	for i := 0; i < t.NumField() && !refs; i++ {
		f := t.Field(i)
		refs = f.IsExported() && holdsRefs(f.Type)
	}
	refsCache.Store(t, refs)
	return refs
}

// detachable returns the indexes of the top-level fields of struct type t
// that detach must copy: exported, not in drop (fields holding no column,
// zeroed in a column-only copy), and holding references.
func detachable(t reflect.Type, drop []int) []int {
	dropped := make(map[int]bool, len(drop))
	for _, i := range drop {
		dropped[i] = true
	}
	var out []int
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !dropped[i] && f.IsExported() && holdsRefs(f.Type) {
			out = append(out, i)
		}
	}
	return out
}

// detach gives the record rec (an addressable struct of the model's type)
// copies of everything its columns reach through pointers, slices, maps,
// arrays, nested structs and interfaces, so that protecting rec changes
// none of the memory it shared with the caller's record. Records sharing a
// pointee get one copy each. Cycles are copied as cycles.
func (m *model) detach(rec reflect.Value) {
	if len(m.refs) == 0 {
		return
	}
	var c copier
	for _, i := range m.refs {
		c.inPlace(rec.Field(i))
	}
}

// copier deep-copies values. active holds the pointers, slices and maps
// being copied on the current path, with their copies, so that a cycle
// ends at the copy in progress rather than recursing for ever.
type copier struct {
	active map[activeKey]reflect.Value
}

type activeKey struct {
	t reflect.Type
	p uintptr
}

// inPlace replaces what the addressable v refers to with copies.
func (c *copier) inPlace(v reflect.Value) {
	if !v.CanSet() {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		if !v.IsNil() {
			v.Set(c.copyOf(v))
		}
	case reflect.Struct:
		if !holdsRefs(v.Type()) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			c.inPlace(v.Field(i))
		}
	case reflect.Array:
		if !holdsRefs(v.Type().Elem()) {
			return
		}
		for i := 0; i < v.Len(); i++ {
			c.inPlace(v.Index(i))
		}
	}
}

// copyOf returns a copy of v, a non-nil pointer, slice, map or interface,
// that shares nothing mutable with it.
func (c *copier) copyOf(v reflect.Value) reflect.Value {
	t := v.Type()
	switch v.Kind() {
	case reflect.Interface:
		e := v.Elem()
		n := reflect.New(e.Type()).Elem()
		n.Set(e)
		c.inPlace(n)
		out := reflect.New(t).Elem()
		out.Set(n)
		return out
	case reflect.Pointer:
		deep := holdsRefs(t.Elem())
		if deep {
			if n, ok := c.enter(t, v.Pointer()); ok {
				return n
			}
		}
		n := reflect.New(t.Elem())
		n.Elem().Set(v.Elem())
		if deep {
			c.active[activeKey{t, v.Pointer()}] = n
			c.inPlace(n.Elem())
			delete(c.active, activeKey{t, v.Pointer()})
		}
		return n
	case reflect.Slice:
		n := reflect.MakeSlice(t, v.Len(), v.Len())
		reflect.Copy(n, v)
		if holdsRefs(t.Elem()) && v.Len() > 0 {
			if a, ok := c.enter(t, v.Pointer()); ok {
				return a
			}
			c.active[activeKey{t, v.Pointer()}] = n
			for i := 0; i < n.Len(); i++ {
				c.inPlace(n.Index(i))
			}
			delete(c.active, activeKey{t, v.Pointer()})
		}
		return n
	case reflect.Map:
		deep := holdsRefs(t.Elem())
		if deep {
			if a, ok := c.enter(t, v.Pointer()); ok {
				return a
			}
		}
		n := reflect.MakeMapWithSize(t, v.Len())
		if deep {
			c.active[activeKey{t, v.Pointer()}] = n
		}
		it := v.MapRange()
		for it.Next() {
			e := it.Value()
			if deep && e.Kind() != reflect.Invalid {
				cp := reflect.New(e.Type()).Elem()
				cp.Set(e)
				c.inPlace(cp)
				e = cp
			}
			n.SetMapIndex(it.Key(), e)
		}
		if deep {
			delete(c.active, activeKey{t, v.Pointer()})
		}
		return n
	}
	return v
}

// enter returns the copy in progress of the value of type t at p, if the
// current path is copying it (a cycle), and makes c.active otherwise.
func (c *copier) enter(t reflect.Type, p uintptr) (reflect.Value, bool) {
	if c.active == nil {
		c.active = map[activeKey]reflect.Value{}
		return reflect.Value{}, false
	}
	n, ok := c.active[activeKey{t, p}]
	return n, ok
}

// serializerPkg and serializerName name of GORM's wrapper of a serializer field's
// value (gorm.io/gorm/schema's unexported serializer), which Field.ValueOf
// returns for a field with gorm:"serializer:…".
const serializerPkg, serializerName = "gorm.io/gorm/schema", "serializer"

// unserialized returns the field value that GORM's serializer wrapper v
// holds, read from the record the wrapper was made from; any other v as
// it is.
func unserialized(ctx context.Context, v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return v
	}
	if t := rv.Elem().Type(); t.PkgPath() != serializerPkg || t.Name() != serializerName {
		return v
	}
	f, ok := rv.Elem().FieldByName("Field").Interface().(*schema.Field)
	dst, ok2 := rv.Elem().FieldByName("Destination").Interface().(reflect.Value)
	if !ok || !ok2 || f == nil || !dst.IsValid() {
		return v
	}
	return f.ReflectValueOf(ctx, dst).Interface()
}

// columnValue returns the value GORM writes for protected column c of
// rec: the field's value, or for a serializer field GORM's wrapper that
// serializes it.
func columnValue(ctx context.Context, c *column, rec reflect.Value) any {
	if c.field.Serializer != nil {
		v, _ := c.field.ValueOf(ctx, rec)
		return v
	}
	return c.field.ReflectValueOf(ctx, rec).Interface()
}

// nestedTagged reports whether values of type t hold, through pointers,
// slices, arrays, maps or struct fields, a struct with a pii-tagged field:
// a column of such a type (a serializer:json struct) holds values Protect
// protects although its own field carries no pii tag.
func nestedTagged(t reflect.Type) bool {
	return nestedTaggedSeen(t, map[reflect.Type]bool{})
}

func nestedTaggedSeen(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return false
	}
	seen[t] = true
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if raw, ok := f.Tag.Lookup("pii"); ok && raw != "-" {
			return true
		}
		if nestedTaggedSeen(f.Type, seen) {
			return true
		}
	}
	return false
}
