package pii

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tillid/tillid/internal/tag"
)

// fieldTag is a validated pii tag.
type fieldTag struct {
	// act is the tag's row in the action table.
	act            *action
	class          string
	key            string
	aadField       string
	maxLen         int
	migrate        bool
	lowCardinality bool
	// plainKeys is the plainkeys flag: the keys of a map field are not
	// personal data, and may be stored, shown and logged as they are.
	plainKeys bool
	// index: the source fields, in order.
	sources   []string
	normalize normalizer
	// bits truncates a blind index or pseudonym; 0 means the default size.
	bits int
	// part is the part= option as written, and partFunc its function (nil
	// without part=).
	part     string
	partFunc func(string) string
	// tokenize: the domain and the expected token format.
	domain string
	format string
	// mask is the mask= display mask (nil without one), and view the
	// view= rules, in written order.
	mask *maskRow
	view []tag.ViewRule
	// subjectField is the subject= option: the subject field of the same
	// struct whose keys seal this field ("" for the struct's one subject
	// field, if any).
	subjectField string
	// proc holds the processing options (purpose=, basis=, retain=,
	// from=); the plan merges in the struct-level default.
	proc tag.Processing
}

// defaultKeyName is the key name of fields without key=.
const defaultKeyName = "default"

// parseFieldTag parses and checks a tag against the schema of
// internal/tag, which static tools share; the checks that need the
// field's Go type are the action row's.
func parseFieldTag(raw string) (fieldTag, error) {
	t, err := tag.Parse(raw)
	if err != nil {
		return fieldTag{}, fmt.Errorf("%v", err)
	}
	if err := tag.CheckStatic(t); err != nil {
		return fieldTag{}, err
	}
	ft := fieldTag{key: defaultKeyName, act: actionNamed(t.Action.Name)}
	if ft.act == nil {
		return fieldTag{}, fmt.Errorf("action %q has no row in the action table", t.Action.Name)
	}
	switch schema, _ := tag.LookupAction(t.Action.Name); schema.Value {
	case tag.ValueDomain:
		ft.domain = t.Action.Value
	case tag.ValueFields:
		ft.sources = strings.Split(t.Action.Value, "+")
	}
	for _, o := range t.Options {
		switch o.Name {
		case "class":
			ft.class = o.Value
		case "key":
			ft.key = o.Value
		case "aad":
			ft.aadField = o.Value
		case "maxlen":
			ft.maxLen, _ = strconv.Atoi(o.Value)
		case "migrate":
			ft.migrate = true
		case "lowcardinality":
			ft.lowCardinality = true
		case "plainkeys":
			ft.plainKeys = true
		case "normalize":
			if ft.normalize, err = parseNormalizer(o.Value); err != nil {
				return fieldTag{}, err
			}
		case "bits":
			ft.bits, _ = strconv.Atoi(o.Value)
		case "format":
			ft.format = o.Value
		case "part":
			part, err := tag.ParsePart(o.Value)
			if err != nil {
				return fieldTag{}, err
			}
			ft.part, ft.partFunc = o.Value, partFunc(part)
		case "mask":
			ft.mask = maskNamed(o.Value)
		case "view":
			ft.view, _ = tag.ParseView(o.Value)
		case "subject":
			ft.subjectField = o.Value
		}
	}
	ft.proc = tag.ProcessingOf(t)
	return ft, nil
}
