package piivet

import (
	"go/ast"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// sinks are the functions and methods that print or log their arguments,
// by package path. A method is written "Type.Method".
var sinks = map[string][]string{
	"fmt": {"Print", "Printf", "Println", "Sprint", "Sprintf", "Sprintln", "Fprint", "Fprintf", "Fprintln",
		"Errorf", "Append", "Appendf", "Appendln"},
	"log": {"Print", "Printf", "Println", "Fatal", "Fatalf", "Fatalln", "Panic", "Panicf", "Panicln",
		"Logger.Print", "Logger.Printf", "Logger.Println", "Logger.Fatal", "Logger.Fatalf", "Logger.Fatalln",
		"Logger.Panic", "Logger.Panicf", "Logger.Panicln"},
	"log/slog": {"Debug", "Info", "Warn", "Error", "Log", "DebugContext", "InfoContext", "WarnContext",
		"ErrorContext", "Any", "Group", "AnyValue", "GroupValue", "With",
		"Logger.Debug", "Logger.Info", "Logger.Warn", "Logger.Error", "Logger.Log", "Logger.DebugContext",
		"Logger.InfoContext", "Logger.WarnContext", "Logger.ErrorContext", "Logger.With"},
}

// call reports arguments of a print or log call whose type holds
// pii-tagged fields. A value passed through pii.Redacted has type
// pii.RedactedValue, which holds none, so it is never reported. Types with
// their own String, Format or Error method (for fmt and log) or LogValue
// method (for slog) are trusted to print themselves. Values already held in
// an interface (an any variable, an ...any spread) are not seen.
func (c *checker) call(call *ast.CallExpr) {
	fn, _ := typeutil.Callee(c.pass.TypesInfo, call).(*types.Func)
	if fn == nil || fn.Pkg() == nil {
		return
	}
	path := fn.Pkg().Path()
	name := fn.Name()
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		if n := named(elemType(sig.Recv().Type())); n != nil {
			name = n.Obj().Name() + "." + name
		}
	}
	if !slices.Contains(sinks[path], name) {
		return
	}
	safe := []string{"String", "Format", "Error"}
	if path == "log/slog" {
		safe = []string{"LogValue"}
	}
	for _, arg := range call.Args {
		if sel, ok := ast.Unparen(arg).(*ast.SelectorExpr); ok && logs(path, name) {
			if action, ok := c.plainField(sel); ok {
				c.pass.Reportf(arg.Pos(), "%s is a pii:\"%s\" field and %s.%s prints its plaintext: log the record through pii.Redacted, or leave the field out",
					sel.Sel.Name, action, fn.Pkg().Name(), name)
				continue
			}
		}
		t := c.pass.TypesInfo.TypeOf(arg)
		if t == nil || hasMethod(t, safe) || !c.tagged.Holds(t) {
			continue
		}
		c.pass.Reportf(arg.Pos(), "%s holds pii-tagged fields and %s.%s prints them: pass pii.Redacted(v) instead",
			types.TypeString(t, types.RelativeTo(c.pass.Pkg)), fn.Pkg().Name(), name)
	}
}

// logs reports whether the sink writes a log (log, log/slog) or an error
// (fmt.Errorf), where one plaintext field must not go. fmt's Print,
// Sprint, Fprint and Append families also render revealed fields on
// purpose (a page, an export), so a single field passed to them is not
// reported; a whole tagged struct is.
func logs(path, name string) bool {
	return path == "log" || path == "log/slog" || path == "fmt" && name == "Errorf"
}

// plainActions are the actions whose field holds the plaintext in memory
// before Protect and after Reveal (redact until Protect drops it), so that
// printing the field prints personal data. Index, pseudonym and token
// fields hold derived values, and the subject field an ID.
var plainActions = []string{"encrypt", "deterministic", "redact"}

// plainField reports whether sel selects a struct field tagged with one of
// plainActions, and the action.
func (c *checker) plainField(sel *ast.SelectorExpr) (string, bool) {
	s, ok := c.pass.TypesInfo.Selections[sel]
	if !ok || s.Kind() != types.FieldVal {
		return "", false
	}
	t := s.Recv()
	idx := s.Index()
	for i, k := range idx {
		t = types.Unalias(t)
		if p, ok := t.Underlying().(*types.Pointer); ok {
			t = p.Elem()
		}
		st, ok := t.Underlying().(*types.Struct)
		if !ok || k >= st.NumFields() {
			return "", false
		}
		if i < len(idx)-1 {
			t = st.Field(k).Type()
			continue
		}
		raw, ok := lookupPII(st.Tag(k))
		if !ok {
			return "", false
		}
		action, _, _ := strings.Cut(raw, ",")
		return action, slices.Contains(plainActions, action)
	}
	return "", false
}

// hasMethod reports whether the method set of t itself has one of names:
// fmt calls a String method declared on *T only for a *T, never for a T.
func hasMethod(t types.Type, names []string) bool {
	ms := types.NewMethodSet(t)
	for _, n := range names {
		if ms.Lookup(nil, n) != nil {
			return true
		}
	}
	return false
}
