package piivet_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"go/token"
	"go/types"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/packages"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
	"github.com/tillid/tillid/cmd/tillid/internal/piivet"
	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/pii"
)

// leafPair is one field type in both worlds: reflect for pii.Validate,
// go/types for the analyzer.
type leafPair struct {
	name string
	rt   reflect.Type
	gt   types.Type
}

// leafPairs builds the field types of the combinations from the types of
// this package's imports.
func leafPairs(t *testing.T) []leafPair {
	t.Helper()
	pkgs, err := packages.Load(&packages.Config{Mode: inventory.LoadMode}, "time", "database/sql", "encoding/json", "github.com/tillid/tillid/pii")
	require.NoError(t, err)
	lookup := map[string]types.Type{}
	var value *types.Named
	for _, p := range pkgs {
		require.Empty(t, p.Errors)
		for _, n := range []string{"Time", "NullString", "NullTime", "RawMessage", "Text"} {
			if o := p.Types.Scope().Lookup(n); o != nil {
				lookup[p.Name+"."+n] = o.Type()
			}
		}
		if o := p.Types.Scope().Lookup("Value"); o != nil && p.Name == "pii" {
			value = o.Type().(*types.Named)
		}
	}
	require.NotNil(t, value)
	inst := func(arg types.Type) types.Type {
		v, err := types.Instantiate(nil, value, []types.Type{arg}, true)
		require.NoError(t, err)
		return v
	}
	str, integer, boolean := types.Typ[types.String], types.Typ[types.Int], types.Typ[types.Bool]
	return []leafPair{
		{"string", reflect.TypeFor[string](), str},
		{"int", reflect.TypeFor[int](), integer},
		{"bool", reflect.TypeFor[bool](), boolean},
		{"[]byte", reflect.TypeFor[[]byte](), types.NewSlice(types.Typ[types.Byte])},
		{"[4]byte", reflect.TypeFor[[4]byte](), types.NewArray(types.Typ[types.Byte], 4)},
		{"*string", reflect.TypeFor[*string](), types.NewPointer(str)},
		{"[]int", reflect.TypeFor[[]int](), types.NewSlice(integer)},
		{"map[string]string", reflect.TypeFor[map[string]string](), types.NewMap(str, str)},
		{"any", reflect.TypeFor[any](), types.Universe.Lookup("any").Type()},
		{"func()", reflect.TypeFor[func()](), types.NewSignatureType(nil, nil, nil, nil, nil, false)},
		{"json.RawMessage", reflect.TypeFor[json.RawMessage](), lookup["json.RawMessage"]},
		{"sql.NullString", reflect.TypeFor[sql.NullString](), lookup["sql.NullString"]},
		{"sql.NullTime", reflect.TypeFor[sql.NullTime](), lookup["sql.NullTime"]},
		{"time.Time", reflect.TypeFor[time.Time](), lookup["time.Time"]},
		{"*time.Time", reflect.TypeFor[*time.Time](), types.NewPointer(lookup["time.Time"])},
		{"pii.Text", reflect.TypeFor[pii.Text](), lookup["pii.Text"]},
		{"pii.Value[string]", reflect.TypeFor[pii.Value[string]](), inst(str)},
		{"pii.Value[int]", reflect.TypeFor[pii.Value[int]](), inst(integer)},
		{"pii.Value[bool]", reflect.TypeFor[pii.Value[bool]](), inst(boolean)},
		{"pii.Value[time.Time]", reflect.TypeFor[pii.Value[time.Time]](), inst(lookup["time.Time"])},
		{"[]pii.Value[int]", reflect.TypeFor[[]pii.Value[int]](), types.NewSlice(inst(integer))},
		{"pii.Value[[]string]", reflect.TypeFor[pii.Value[[]string]](), inst(types.NewSlice(str))},
	}
}

// TestParityCombinations builds a struct for every combination of a
// field name, a field type, an action and its options (class=, mask=,
// normalize=, lowcardinality, aad=, from=, retain=, subject=, with the
// field they name of every type, untagged or tagged -, subject or
// redact) that the
// shared schema accepts, in both worlds, and checks that pii.Validate and
// the analyzer's mirror refuse the same ones: the tables of masks,
// classes, actions and leaf types cannot drift apart.
func TestParityCombinations(t *testing.T) {
	leaves := leafPairs(t)
	actions := []string{"encrypt", "deterministic", "pseudonym", "tokenize=card", "redact", "index=S", "subject", "hold", "-"}
	var options [][]string
	for _, mask := range append([]string{""}, tag.MaskKinds()...) {
		for _, class := range []string{"", "contact", "health", "financial", "national_id", "identity"} {
			var o []string
			if class != "" {
				o = append(o, "class="+class)
			}
			if mask != "" {
				o = append(o, "mask="+mask)
			}
			options = append(options, o)
		}
	}
	options = append(options, []string{"normalize=email"}, []string{"lowcardinality"}, []string{"aad=F"}, []string{"aad=S"},
		[]string{"retain=1y,from=F"}, []string{"retain=1y,from=S"}, []string{"retain=1y"}, []string{"subject=F"})
	names := []string{"V", "Email"}
	strType := types.Typ[types.String]
	var n, refused int
	var disagree []string
	for _, leaf := range leaves {
		for _, other := range leaves { // the type of the field F that aad=, from= and subject= name
			for _, act := range actions {
				for _, opts := range options {
					if other.name != "string" && !strings.Contains(strings.Join(opts, ","), "=F") && act != "index=S" {
						continue // F matters only to options that name it
					}
					raw := strings.Join(append([]string{act}, opts...), ",")
					if _, _, err := inventory.CheckTag(raw); err != nil {
						continue // the shared schema decides
					}
					fTags := []string{`pii:"-"`}
					if strings.Contains(raw, "=F") {
						fTags = append(fTags, "", `pii:"subject"`, `pii:"redact"`)
					}
					for _, name := range names {
						if name != "V" && !strings.Contains(raw, "mask=") {
							continue // the name matters to masks only
						}
						for _, fTag := range fTags {
							n++
							rt := reflect.StructOf([]reflect.StructField{
								{Name: name, Type: leaf.rt, Tag: reflect.StructTag(fmt.Sprintf(`pii:%q`, raw))},
								{Name: "S", Type: reflect.TypeFor[string]()},
								{Name: "F", Type: other.rt, Tag: reflect.StructTag(fTag)},
							})
							gt := types.NewStruct([]*types.Var{
								types.NewField(token.NoPos, nil, name, leaf.gt, false),
								types.NewField(token.NoPos, nil, "S", strType, false),
								types.NewField(token.NoPos, nil, "F", other.gt, false),
							}, []string{fmt.Sprintf(`pii:%q`, raw), "", fTag})
							piiErr := pii.Validate(rt)
							vet := piivet.CheckStruct(gt, nil)
							if piiErr != nil {
								refused++
							}
							if (piiErr != nil) != (len(vet) > 0) {
								disagree = append(disagree, fmt.Sprintf("%s %s `pii:%q` (F %s `%s`): pii %v; analyzer %+v", name, leaf.name, raw, other.name, fTag, piiErr, vet))
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations, %d refused by pii", n, refused)
	require.Greater(t, n, 5000)
	assert.Greater(t, refused, n/10)
	assert.Greater(t, n-refused, 2000, "accepted combinations")
	if len(disagree) > 20 {
		disagree = append(disagree[:20], fmt.Sprintf("... and %d more", len(disagree)-20))
	}
	assert.Empty(t, disagree, "pii and the analyzer disagree")
}
