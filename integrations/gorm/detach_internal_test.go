package tillidgorm

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type node struct {
	Name *string
	Next *node
	Any  any
	Tags map[string]*string
	Pair [2]*string
	Self []any
	_    struct{}
	priv *string
}

// TestCopierShares: a deep copy shares no pointee, slice, map or interface
// value with the original, ends cycles at the copy, and leaves unexported
// fields as they are.
func TestCopierShares(t *testing.T) {
	name, tag, a, b, priv := "n", "t", "a", "b", "p"
	n := &node{Name: &name, Any: &tag, Tags: map[string]*string{"k": &tag}, Pair: [2]*string{&a, &b}, priv: &priv}
	n.Next = n // a cycle through a pointer
	n.Self = []any{nil}
	n.Self[0] = n.Self // a cycle through a slice in an interface

	var c copier
	rec := reflect.ValueOf(n).Elem()
	cp := reflect.New(rec.Type()).Elem()
	cp.Set(rec)
	require.NotPanics(t, func() {
		for _, i := range detachable(rec.Type(), nil) {
			c.inPlace(cp.Field(i))
		}
	})
	got := cp.Addr().Interface().(*node)
	tests := []struct {
		name       string
		orig, copy any
	}{
		{"pointer", n.Name, got.Name},
		{"interface", n.Any, got.Any},
		{"map value", n.Tags["k"], got.Tags["k"]},
		{"array element", n.Pair[1], got.Pair[1]},
	}
	for _, tt := range tests {
		assert.NotSame(t, tt.orig, tt.copy, tt.name)
		assert.Equal(t, tt.orig, tt.copy, tt.name)
	}
	assert.Same(t, got.Next, got.Next.Next, "the cycle is copied as a cycle")
	assert.NotSame(t, n, got.Next, "and does not lead back to the original")
	assert.Same(t, n.priv, got.priv, "unexported fields are not copied")
	*got.Name, *got.Tags["k"] = "changed", "changed"
	assert.Equal(t, "n", name)
	assert.Equal(t, "t", tag)
}

// TestHoldsRefs: only types with references in exported fields count.
func TestHoldsRefs(t *testing.T) {
	type flatT struct {
		A string
		B int
		c *string
	}
	type nested struct{ F struct{ P *int } }
	tests := []struct {
		name string
		v    any
		want bool
	}{
		{"string", "", false},
		{"pointer", (*string)(nil), true},
		{"byte slice", []byte(nil), true},
		{"flat struct with an unexported pointer", flatT{}, false},
		{"nested struct with a pointer", nested{}, true},
		{"array of pointers", [2]*int{}, true},
		{"array of ints", [2]int{}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, holdsRefs(reflect.TypeOf(tt.v)), tt.name)
	}
}
