package pii_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/google/go-cmp/cmp"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current code")

// VectorRecord is the struct the known-answer vectors are made with. Its
// name and field names are part of the associated data: do not rename them.
type VectorRecord struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt,aad=ID"`
	Phone string `pii:"deterministic"`
	Raw   []byte `pii:"deterministic"`
	Note  string `pii:"encrypt"`
}

type vector struct {
	Name      string       `json:"name"`
	Plaintext VectorRecord `json:"plaintext"`
	Protected VectorRecord `json:"protected"`
}

// TestKnownAnswers pins the wire format: the stored values in
// testdata/vectors.json, made with piitest's fixed keys, must keep revealing
// to the same plaintexts, and deterministic fields must keep protecting to
// the same bytes. Rewrite with -update only for a deliberate format change,
// and review the diff like code.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	p, err := pii.New(piitest.NewFixedProvider())
	require.NoError(t, err)
	path := filepath.Join("testdata", "vectors.json")
	inputs := []VectorRecord{
		{ID: "1", Email: "ada@example.com", Phone: "+44 20 7946 0000", Raw: []byte{0, 1, 2}, Note: ""},
		{ID: "2", Email: "", Phone: "", Raw: []byte{}, Note: "ünïcödé ✓"},
		{ID: "customer-3", Email: "grace@example.org", Phone: "555-0100", Raw: nil, Note: "a longer note, with punctuation: yes."},
	}
	if *update {
		var vs []vector
		for i, in := range inputs {
			out := in
			out.Raw = bytes.Clone(in.Raw)
			mustProtect(t, p, &out)
			vs = append(vs, vector{Name: "record " + string(rune('1'+i)), Plaintext: in, Protected: out})
		}
		b, _ := json.MarshalIndent(vs, "", "  ")
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var vs []vector
	require.NoError(t, json.Unmarshal(b, &vs))
	require.False(t, len(vs) != len(inputs), "%s has %d vectors, want %d", path, len(vs), len(inputs))
	for _, v := range vs {
		got := v.Protected
		mustReveal(t, p, &got)
		if diff := cmp.Diff(v.Plaintext, got); diff != "" {
			t.Errorf("%s: Reveal(stored) (-want +got):\n%s", v.Name, diff)
		}
		again := v.Plaintext
		again.Raw = bytes.Clone(v.Plaintext.Raw)
		mustProtect(t, p, &again)
		assert.False(t, again.Phone != v.Protected.Phone || string(again.Raw) != string(v.Protected.Raw), "%s: deterministic Protect drifted:\n got %q %x\nwant %q %x", v.Name, again.Phone, again.Raw, v.Protected.Phone, v.Protected.Raw)
		assert.False(t, len(again.Email) != len(v.Protected.Email) || again.Email[:11] != v.Protected.Email[:11], "%s: encrypt envelope header or size drifted: %q vs %q", v.Name, again.Email[:11], v.Protected.Email[:11])
	}
}
