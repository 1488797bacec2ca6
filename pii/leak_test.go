package pii_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

type LeakRecord struct {
	ID    string            `pii:"-"`
	Email string            `pii:"encrypt,aad=ID,maxlen=90"`
	Phone string            `pii:"deterministic"`
	Raw   []byte            `pii:"encrypt"`
	Age   pii.Value[int]    `pii:"encrypt"`
	Tags  map[string]string `pii:"encrypt,plainkeys"`
}

// No error carries a plaintext, a ciphertext or key bytes, on any error path.
func TestErrorsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	const secretEmail = "leak.person@example.com"
	const secretPhone = "+4599887766"
	const secretKey = "leak-map-key@example.com"
	p, err := pii.New(piitest.NewFixedProvider())
	require.NoError(t, err)
	good := LeakRecord{ID: "1", Email: secretEmail, Phone: secretPhone, Raw: []byte(secretEmail), Age: pii.NewValue(41), Tags: map[string]string{secretKey: secretEmail}}
	mustProtect(t, p, &good)

	var errs []error
	try := func(f func() error) {
		err := f()
		assert.Error(t, err, "case %d did not fail", len(errs))
		errs = append(errs, err)
	}
	tampered := good
	tampered.Email = good.Email[:len(good.Email)-2] + "xx"
	try(func() error { c := tampered; return p.Reveal(ctx, &c) })
	try(func() error { c := good; c.ID = "2"; return p.Reveal(ctx, &c) })
	try(func() error { c := good; c.Phone = secretPhone; return p.Reveal(ctx, &c) })
	try(func() error { c := good; c.Email = "tl1e:" + secretEmail; return p.Protect(ctx, &c) })
	try(func() error {
		c := LeakRecord{ID: "1", Email: strings.Repeat(secretEmail, 5)}
		return p.Protect(ctx, &c)
	})
	try(func() error { c := LeakRecord{Email: secretEmail}; return p.Protect(ctx, &c) })
	try(func() error {
		c := good
		c.Tags = map[string]string{secretKey: "tl1e:AAAA" + secretEmail}
		return p.Reveal(ctx, &c)
	})
	try(func() error { c := good; c.Raw = append([]byte("tl1e:"), secretEmail...); return p.Reveal(ctx, &c) })
	try(func() error { c := good; _ = c.Age.Scan("tl1e:" + secretEmail); return p.Reveal(ctx, &c) })
	try(func() error {
		store := keys.NewMemory()
		q, _ := pii.New(store)
		c := LeakRecord{ID: "1", Email: secretEmail}
		if err := q.Protect(ctx, &c); err != nil {
			return nil
		}
		ks, _ := store.Keyset(ctx, "default", keys.KindAEAD)
		old := ks.PrimaryKeyID()
		store.Rotate(ctx, "default", keys.KindAEAD)
		store.Disable(ctx, "default", keys.KindAEAD, old)
		return q.Reveal(ctx, &c)
	})
	try(func() error {
		q, _ := pii.New(keys.NewMemory())
		c := good
		return q.Reveal(ctx, &c) // another keyset: unknown key ID
	})
	try(func() error {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		c := LeakRecord{ID: "1", Email: secretEmail}
		return p.Protect(cctx, &c)
	})
	try(func() error {
		var c LeakRecord
		return c.Age.UnmarshalJSON([]byte(`"` + secretEmail + `"`))
	})

	keyHex := hex.EncodeToString([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	forbidden := []string{secretEmail, secretPhone, secretKey, "leak.person", good.Email[5:20], good.Phone[5:20], keyHex}
	for i, err := range errs {
		if err == nil {
			continue
		}
		msg := err.Error()
		for _, f := range forbidden {
			assert.NotContains(t, msg, f, "error %d", i)
		}
		var fe *pii.FieldError
		if errors.As(err, &fe) {
			assert.NotContains(t, fe.Path, "leak", "error %d: a path never holds a map key", i)
		}
	}
}
