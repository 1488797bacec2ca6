package pii_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

type FuzzRecord struct {
	ID   string            `pii:"-"`
	A    string            `pii:"encrypt,aad=ID"`
	B    []byte            `pii:"deterministic"`
	C    *string           `pii:"encrypt"`
	M    map[string]string `pii:"deterministic"`
	L    []Contact
	N    pii.Value[int64] `pii:"encrypt"`
	Drop string           `pii:"redact"`
}

// FuzzRoundTrip protects and reveals generated records: Reveal(Protect(v))
// gives v back, Protect is idempotent, and Reveal of the raw input either
// fails cleanly or (for input that is already a ciphertext) succeeds.
func FuzzRoundTrip(f *testing.F) {
	f.Add("id", "a", []byte("b"), "c", "k", "v", int64(5), "e@example.com")
	f.Add("x", "", []byte{}, "", "", "", int64(-1), "")
	f.Add("tl1e:", "tl1e:AAAA", []byte("tl1d:"), "tl1e:", "tl1d:", "tl1d:x", int64(0), "tl1e:")
	p, err := pii.New(piitest.NewFixedProvider())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, a string, b []byte, c, mk, mv string, n int64, email string) {
		if id == "" {
			id = "id"
		}
		in := FuzzRecord{ID: id, A: a, B: b, C: &c, M: map[string]string{mk: mv}, L: []Contact{{Email: email}}, N: pii.NewValue(n), Drop: "x"}
		v := in
		v.B = bytes.Clone(b)
		cc := c
		v.C = &cc
		v.M = map[string]string{mk: mv}
		v.L = []Contact{{Email: email}}
		if err := p.Protect(ctx, &v); err != nil {
			require.False(t, !errors.Is(err, pii.ErrDecryption) && !errors.Is(err, pii.ErrTooLong), "Protect = %v", err)
			return // input that carries the prefix but does not verify
		}
		snapshot := v.A
		if err := p.Protect(ctx, &v); err != nil || v.A != snapshot {
			t.Fatalf("second Protect = %v, changed=%v", err, v.A != snapshot)
		}
		require.NoError(t, p.Reveal(ctx, &v), "Reveal")
		got, _ := v.N.Get()
		require.False(t, v.A != a || !bytes.Equal(v.B, b) || (b == nil) != (v.B == nil) || *v.C != c || v.M[mk] != mv || v.L[0].Email != email || got != n || v.Drop != "", "round trip differs: %+v", v)
	})
}
