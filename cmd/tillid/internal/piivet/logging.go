package piivet

import (
	"go/ast"
	"go/types"
	"slices"

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
		t := c.pass.TypesInfo.TypeOf(arg)
		if t == nil || hasMethod(t, safe) || !c.tagged.Holds(t) {
			continue
		}
		c.pass.Reportf(arg.Pos(), "%s holds pii-tagged fields and %s.%s prints them: pass pii.Redacted(v) instead",
			types.TypeString(t, types.RelativeTo(c.pass.Pkg)), fn.Pkg().Name(), name)
	}
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
