package keys_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

type record struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt,aad=ID"`
	Phone string `pii:"deterministic"`
}

// The memory and file stores pass the keyset store suite; the SQL stores
// run it in the module github.com/tillid/tillid/stores.
func TestMemoryProvider(t *testing.T) {
	t.Parallel()
	piitest.TestProvider(t, func(t *testing.T) (keys.Manager, func(*testing.T) keys.Manager) {
		return keys.NewMemory(), nil
	})
}

func TestFileProvider(t *testing.T) {
	t.Parallel()
	piitest.TestProvider(t, func(t *testing.T) (keys.Manager, func(*testing.T) keys.Manager) {
		path := filepath.Join(t.TempDir(), "keysets.json")
		kek, err := keys.NewLocalKEK(newKEK(t))
		require.NoError(t, err)
		open := func(t *testing.T) keys.Manager {
			s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
			require.NoError(t, err, "OpenFile")
			return s
		}
		return open(t), open
	})
}

// The local KEK passes the KEK suite.
func TestLocalKEK(t *testing.T) {
	t.Parallel()
	piitest.TestKEK(t, func(t *testing.T) tink.AEAD {
		kek, err := keys.NewLocalKEK(newKEK(t))
		require.NoError(t, err)
		return kek
	})
}

// Disabling and enabling again restores access to old values.
func TestDisableEnableReveal(t *testing.T) {
	t.Parallel()
	s := keys.NewMemory()
	p, _ := pii.New(s)
	r := record{ID: "1", Email: "a@example.com", Phone: "1"}
	require.NoError(t, p.Protect(ctx, &r))
	ks, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	k1 := ks.PrimaryKeyID()
	s.Rotate(ctx, "default", keys.KindAEAD)
	require.NoError(t, s.Disable(ctx, "default", keys.KindAEAD, k1))
	got := r
	require.ErrorIs(t, p.Reveal(ctx, &got), pii.ErrKeyDisabled, "Reveal under a disabled key")
	require.NoError(t, s.Enable(ctx, "default", keys.KindAEAD, k1))
	err := p.Reveal(ctx, &got)
	require.NoError(t, err, "Reveal after Enable = %v, %q", err, got.Email)
	require.Equal(t, "a@example.com", got.Email, "Reveal after Enable = %v, %q", err, got.Email)
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	rec := &piitest.AuditRecorder{}
	var logs bytes.Buffer
	multi := auditors{rec, keys.NewSlogAuditor(slog.New(slog.NewJSONHandler(&logs, nil)))}
	s := keys.NewMemory(keys.WithAuditor(multi))
	ks, _ := s.Keyset(ctx, "crm", keys.KindAEAD)
	k1 := ks.PrimaryKeyID()
	s.Keyset(ctx, "crm", keys.KindAEAD) // no event: nothing changed
	s.Rotate(ctx, "crm", keys.KindAEAD)
	s.Disable(ctx, "crm", keys.KindAEAD, k1)
	s.Disable(ctx, "crm", keys.KindAEAD, k1) // no event: already disabled
	s.Enable(ctx, "crm", keys.KindAEAD, k1)
	s.Disable(ctx, "crm", keys.KindAEAD, k1)
	s.Destroy(ctx, "crm", keys.KindAEAD, k1)
	want := []string{"keyset.created", "key.rotated", "key.disabled", "key.enabled", "key.disabled", "key.destroyed"}
	got := rec.Types()
	assert.Equal(t, strings.Join(want, " "), strings.Join(got, " "), "events = %v, want %v", got, want)
	for _, e := range rec.Events() {
		assert.Equal(t, "crm/aead", e.Keyset.String(), "event %+v lacks its keyset, key ID or time", e)
		assert.NotEqual(t, 0, e.KeyID, "event %+v lacks its keyset, key ID or time", e)
		assert.False(t, e.Time.IsZero(), "event %+v lacks its keyset, key ID or time", e)
	}
	e := rec.Events()[len(rec.Events())-1]
	assert.Equal(t, k1, e.KeyID, "destroy event key ID = %d, want %d", e.KeyID, k1)
	out := logs.String()
	assert.Equal(t, len(want), strings.Count(out, `"msg":"tillid key audit"`), "slog output:\n%s", out)
	assert.Contains(t, out, `"event":"key.destroyed"`, "slog output:\n%s", out)
	assert.Contains(t, out, `"keyset":"crm/aead"`, "slog output:\n%s", out)
	// Only the documented attributes: no key material can slip in.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, f := range []string{"keyValue", "value\":", "key_data"} {
			assert.NotContains(t, line, f, "audit log line holds %q: %s", f, line)
		}
	}
	assert.Equal(t, "unknown", keys.EventUnknown.String(), "EventUnknown.String()")
}

type auditors []keys.Auditor

func (a auditors) Audit(ctx context.Context, e keys.Event) {
	for _, x := range a {
		x.Audit(ctx, e)
	}
}

func TestStoreOptionsRefused(t *testing.T) {
	t.Parallel()
	kek, _ := keys.NewLocalKEK(newKEK(t))
	_, err := keys.OpenFile(filepath.Join(t.TempDir(), "k.json"), kek, keys.WithCacheTTL(time.Second))
	assert.Error(t, err, "OpenFile accepted WithCacheTTL")
	defer func() {
		assert.NotNil(t, recover(), "NewMemory(WithTable) did not panic")
	}()
	keys.NewMemory(keys.WithTable("x"))
}
