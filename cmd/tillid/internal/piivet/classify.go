package piivet

import (
	"go/types"
)

// personalTypes are types that hold personal data whatever the field is
// called, by package path and type name.
var personalTypes = map[[2]string]string{
	{"net", "IP"}:             "identity",
	{"net", "HardwareAddr"}:   "identity",
	{"net/netip", "Addr"}:     "identity",
	{"net/netip", "AddrPort"}: "identity",
	{"net/mail", "Address"}:   "contact",
}

// classifyField reports whether the exported, untagged field name of type
// t, in a struct with context ctx, holds personal data, and the class to
// suggest. The rules, in order:
//
//   - Through pointers, slices, arrays and map values, t's element decides.
//   - net.IP, net.HardwareAddr, netip.Addr, netip.AddrPort and
//     mail.Address are personal, unless the name says a network endpoint
//     (ServerIP, Gateway).
//   - Structs with exported fields, interfaces, functions and channels are
//     never reported by name: a struct's own fields are checked where it is
//     declared (a struct from another module cannot be tagged here, and
//     `tillid inventory` lists what it holds). Structs without exported
//     fields (time.Time, big.Int), sql.Null* and pii.Value are values.
//   - A bool is reported only for health and special categories
//     (Pregnant), never for EmailVerified or HasPhone.
//   - Otherwise the field's name decides, and then the name of its named
//     type (Contact Email, where type Email string).
func classifyField(ctx nameContext, name string, t types.Type) (string, bool) {
	elem := elemType(t)
	if n := named(elem); n != nil && n.Obj().Pkg() != nil {
		if class, ok := personalTypes[[2]string{n.Obj().Pkg().Path(), n.Obj().Name()}]; ok {
			for _, w := range splitWords(name) {
				if networkWords[w] {
					return "", false
				}
			}
			return class, true
		}
	}
	switch u := elem.Underlying().(type) {
	case *types.Struct:
		if !isValueStruct(elem, u) {
			return "", false
		}
	case *types.Interface, *types.Signature, *types.Chan, *types.TypeParam:
		return "", false
	}
	isBool := false
	if b, ok := elem.Underlying().(*types.Basic); ok && b.Info()&types.IsBoolean != 0 {
		isBool = true
	}
	ok := func(class string) bool { return !isBool || class == "health" || class == "special" }
	if class, personal := classifyName(ctx, name); personal && ok(class) {
		return class, true
	}
	if n := named(elem); n != nil {
		if class, personal := classifyName(ctx, n.Obj().Name()); personal && ok(class) {
			return class, true
		}
	}
	return "", false
}

// elemType looks through pointers, slices, arrays and map values.
func elemType(t types.Type) types.Type {
	for range maxDepth {
		switch u := types.Unalias(t).(type) {
		case *types.Pointer:
			t = u.Elem()
			continue
		case *types.Slice:
			t = u.Elem()
			continue
		case *types.Array:
			t = u.Elem()
			continue
		case *types.Map:
			t = u.Elem()
			continue
		}
		break
	}
	return types.Unalias(t)
}

func named(t types.Type) *types.Named {
	n, _ := types.Unalias(t).(*types.Named)
	return n
}

// isValueStruct reports whether a struct type is a value, not a container
// of fields: no exported fields (time.Time, netip.Addr), or sql.Null* and
// pii.Value.
func isValueStruct(t types.Type, st *types.Struct) bool {
	if n := named(t); n != nil && n.Obj().Pkg() != nil {
		path, name := n.Obj().Pkg().Path(), n.Obj().Name()
		if path == "database/sql" && len(name) > 4 && name[:4] == "Null" || path == "github.com/tillid/tillid/pii" && name == "Value" {
			return true
		}
	}
	for i := range st.NumFields() {
		if st.Field(i).Exported() {
			return false
		}
	}
	return true
}
