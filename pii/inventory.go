package pii

import (
	"fmt"
	"reflect"
	"time"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

// InventoryField is one tagged field in the data map that [Inventory]
// returns (GDPR Art. 30): what the field holds, how it is protected and
// why and how long it is kept. It holds no value.
type InventoryField struct {
	// Type is the Go type passed to Inventory, as reflect.Type.String
	// writes it ("shop.Customer").
	Type string
	// Path is the field's Go path from that type, as in error paths:
	// "Customer.Address.Street", with "[]" for the elements of a slice or
	// array and "[…]" for map values.
	Path string
	// Action is the tag's action as written: encrypt, deterministic,
	// index, pseudonym, hash, tokenize, redact or subject.
	Action string
	// Class is the class= data category, or "".
	Class string
	// Key is the keyset name (key=, "default" without it) of the actions
	// that use one, the token domain of tokenize, else "".
	Key string
	// Purposes, Basis, Retain, RetainFor and From are the processing
	// options after the struct-level defaults are merged in (the field's
	// own, then its struct's, then those of enclosing structs).
	Purposes  []string
	Basis     string
	Retain    string
	RetainFor time.Duration
	From      string
	// Subjects are the subjects= categories of data subjects of the
	// struct-level defaults.
	Subjects []string
	// Subject is the path of the subject field whose keys seal the field
	// (encrypt and deterministic in a struct with a subject field), or "".
	Subject string
	// AAD is the aad= record ID field, or "".
	AAD string
}

// Inventory returns every tagged field (the "-" ones aside) reachable from
// the given types (each a struct, a pointer to one, or a reflect.Type),
// with its Go path, class, action, key, purposes, lawful basis, retention
// and subject binding: the data map of those types, as tillid inventory
// builds it from source. The order is stable: types in the order given,
// fields in declaration order, depth first; a type reached again below
// itself is listed once. It fails with the error [Validate] would return
// for an invalid type (a [*FieldError] wrapping [ErrInvalidTag]) or
// [ErrInvalidTarget]. It holds no values and is safe for concurrent use.
func Inventory(types ...any) ([]InventoryField, error) {
	var out []InventoryField
	for _, v := range types {
		tp, err := structPlanOf(v)
		if err != nil {
			return nil, err
		}
		t := tp.typ
		w := inventoryWalk{root: t.String()}
		w.structFields(t, typeName(t), tag.Processing{})
		out = append(out, w.out...)
	}
	return out, nil
}

type inventoryWalk struct {
	root  string
	stack []reflect.Type
	out   []InventoryField
}

func (w *inventoryWalk) structFields(t reflect.Type, path string, def tag.Processing) {
	for _, s := range w.stack {
		if s == t {
			return
		}
	}
	w.stack = append(w.stack, t)
	defer func() { w.stack = w.stack[:len(w.stack)-1] }()
	p := planFor(t)
	def = p.defaults.Merge(def)
	subjectOf := func(i int) string {
		if i < 0 {
			return ""
		}
		return path + "." + t.Field(i).Name
	}
	bound := map[int]int{}
	for _, f := range p.fields {
		if f.subjectKeyed() {
			bound[f.index] = f.subject.index
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		fpath := path + "." + f.Name
		ft := p.tags[i]
		if ft == nil {
			w.descend(f.Type, fpath, def)
			continue
		}
		if ft.act == skipAction {
			continue
		}
		proc := ft.proc.Merge(def)
		row := InventoryField{
			Type: w.root, Path: fpath, Action: ft.act.name, Class: ft.class,
			Purposes: proc.Purposes, Basis: proc.Basis, Retain: proc.Retain, RetainFor: proc.RetainFor,
			From: proc.From, Subjects: proc.Subjects, AAD: ft.aadField,
		}
		switch {
		case ft.act.keyKind != keys.KindUnknown:
			row.Key = ft.key
		case ft.domain != "":
			row.Key = ft.domain
		}
		if si, ok := bound[i]; ok {
			row.Subject = subjectOf(si)
		}
		w.out = append(w.out, row)
	}
}

// descend walks into an untagged field's type through pointers, slices,
// arrays and map values.
func (w *inventoryWalk) descend(t reflect.Type, path string, def tag.Processing) {
	for {
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
			continue
		case reflect.Slice, reflect.Array:
			t, path = t.Elem(), path+"[]"
			continue
		case reflect.Map:
			t, path = t.Elem(), path+"[…]"
			continue
		case reflect.Struct:
			w.structFields(t, path, def)
		}
		return
	}
}

// String returns the field's path and action, for test failures and logs.
func (f InventoryField) String() string { return fmt.Sprintf("%s: %s", f.Path, f.Action) }
