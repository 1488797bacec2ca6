package keys_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type record struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt,aad=ID"`
	Phone string `pii:"deterministic"`
}

// recorder is an Auditor that keeps the events it is sent.
type recorder struct {
	mu     sync.Mutex
	events []keys.Event
}

func (r *recorder) Audit(_ context.Context, e keys.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type.String())
	}
	return out
}

// lifecycleStore is what the state-transition tests need of a store.
type lifecycleStore interface {
	keys.Provider
	Rotate(ctx context.Context, name string, kind keys.Kind) (uint32, error)
	Enable(ctx context.Context, name string, kind keys.Kind, keyID uint32) error
	Disable(ctx context.Context, name string, kind keys.Kind, keyID uint32) error
	Destroy(ctx context.Context, name string, kind keys.Kind, keyID uint32) error
}

// testTransitions runs every state transition on a store made by open.
// reopen, when set, opens the same storage again, to check that states
// persist.
func testTransitions(t *testing.T, s lifecycleStore, reopen func() keys.Provider) {
	t.Helper()
	const name = "default"
	first, err := s.Keyset(ctx, name, keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	k1 := first.PrimaryKeyID()
	p, _ := pii.New(s)
	old := record{ID: "r1", Email: "old@example.com", Phone: "+45 1234"}
	if err := p.Protect(ctx, &old); err != nil {
		t.Fatal(err)
	}
	k2, err := s.Rotate(ctx, name, keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := s.Rotate(ctx, name, keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	// k1 and k2 enabled, k3 primary.
	status := func(id uint32) keyset.KeyStatus {
		ks, err := s.Keyset(ctx, name, keys.KindAEAD)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := ks.Status(id)
		return st
	}
	tests := []struct {
		name       string
		op         func() error
		wantErr    error // nil: success; errAny: any error
		wantStatus keyset.KeyStatus
		keyID      uint32
		reason     string
	}{
		{name: "disable enabled", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Disabled},
		{name: "disable disabled", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Disabled, reason: "idempotent"},
		{name: "enable disabled", op: func() error { return s.Enable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Enabled},
		{name: "enable enabled", op: func() error { return s.Enable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Enabled, reason: "idempotent"},
		{name: "destroy enabled", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k2) }, wantErr: errAny, keyID: k2, wantStatus: keyset.Enabled, reason: "a key is disabled before it is destroyed"},
		{name: "disable primary", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k3) }, wantErr: errAny, keyID: k3, wantStatus: keyset.Enabled},
		{name: "destroy primary", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k3) }, wantErr: errAny, keyID: k3, wantStatus: keyset.Enabled},
		{name: "disable k1 again", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Disabled},
		{name: "destroy disabled", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Destroyed},
		{name: "destroy destroyed", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, k1) }, keyID: k1, wantStatus: keyset.Destroyed, reason: "idempotent"},
		{name: "enable destroyed", op: func() error { return s.Enable(ctx, name, keys.KindAEAD, k1) }, wantErr: keys.ErrKeyDestroyed, keyID: k1, wantStatus: keyset.Destroyed, reason: "destruction cannot be undone"},
		{name: "disable destroyed", op: func() error { return s.Disable(ctx, name, keys.KindAEAD, k1) }, wantErr: keys.ErrKeyDestroyed, keyID: k1, wantStatus: keyset.Destroyed},
		{name: "destroy unknown", op: func() error { return s.Destroy(ctx, name, keys.KindAEAD, 4242) }, wantErr: keys.ErrKeyNotFound, keyID: k3, wantStatus: keyset.Enabled},
		{name: "destroy in unknown keyset", op: func() error { return s.Destroy(ctx, "nope", keys.KindAEAD, k1) }, wantErr: keys.ErrKeyNotFound, keyID: k3, wantStatus: keyset.Enabled},
	}
	for _, tt := range tests {
		err := tt.op()
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%s: error %v, want success (%s)", tt.name, err, tt.reason)
		case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
			t.Errorf("%s: error %v, want %v (%s)", tt.name, err, tt.wantErr, tt.reason)
		}
		if got := status(tt.keyID); got != tt.wantStatus {
			t.Errorf("%s: status of key %d = %v, want %v (%s)", tt.name, tt.keyID, got, tt.wantStatus, tt.reason)
		}
	}

	ks, _ := s.Keyset(ctx, name, keys.KindAEAD)
	if ks.Handle().Len() != 2 {
		t.Errorf("after Destroy the Tink keyset holds %d keys, want 2: the destroyed key's material must be gone", ks.Handle().Len())
	}
	if err := ks.CheckKeyID(k1); !errors.Is(err, keys.ErrKeyDestroyed) {
		t.Errorf("CheckKeyID(destroyed) = %v, want ErrKeyDestroyed", err)
	}
	if _, err := ks.ForKey(k1); !errors.Is(err, keys.ErrKeyDestroyed) {
		t.Errorf("ForKey(destroyed) = %v, want ErrKeyDestroyed", err)
	}
	var sawDestroyed bool
	for _, ki := range ks.Keys() {
		if ki.Created.IsZero() {
			t.Errorf("key %d has no creation time", ki.KeyID)
		}
		if ki.KeyID == k1 {
			sawDestroyed = ki.Status == keyset.Destroyed && !ki.Destroyed.IsZero()
		}
	}
	if !sawDestroyed {
		t.Errorf("Keys() = %+v, want key %d listed as destroyed with a time", ks.Keys(), k1)
	}
	if !strings.Contains(ks.String(), "Destroyed") {
		t.Errorf("String() = %s, want the destroyed key listed", ks)
	}

	// A value under the destroyed key is reported as destroyed, not as
	// garbage or unknown.
	got := old
	if err := p.Reveal(ctx, &got); !errors.Is(err, pii.ErrKeyDestroyed) {
		t.Errorf("Reveal(value under destroyed key) = %v, want ErrKeyDestroyed", err)
	}
	if got != old {
		t.Error("a failed Reveal changed the struct")
	}
	// New values use the primary and reveal.
	fresh := record{ID: "r2", Email: "new@example.com", Phone: "+45 5678"}
	if err := p.Protect(ctx, &fresh); err != nil {
		t.Fatal(err)
	}
	if err := p.Reveal(ctx, &fresh); err != nil || fresh.Email != "new@example.com" {
		t.Errorf("Reveal(fresh) = %v, %q", err, fresh.Email)
	}

	if reopen != nil {
		r := reopen()
		ks, err := r.Keyset(ctx, name, keys.KindAEAD)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := ks.Status(k1); st != keyset.Destroyed {
			t.Errorf("reopened: key %d status = %v, want Destroyed", k1, st)
		}
		if ks.Handle().Len() != 2 {
			t.Errorf("reopened: the Tink keyset holds %d keys, want 2", ks.Handle().Len())
		}
		p2, _ := pii.New(r)
		got := old
		if err := p2.Reveal(ctx, &got); !errors.Is(err, pii.ErrKeyDestroyed) {
			t.Errorf("reopened: Reveal(value under destroyed key) = %v, want ErrKeyDestroyed", err)
		}
	}
}

var errAny = errors.New("any error")

func TestTransitionsMemory(t *testing.T) {
	testTransitions(t, keys.NewMemory(), nil)
}

func TestTransitionsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	if err != nil {
		t.Fatal(err)
	}
	testTransitions(t, s, func() keys.Provider {
		r, err := keys.OpenFile(path, kek)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// Disabling and enabling again restores access to old values.
func TestDisableEnableReveal(t *testing.T) {
	s := keys.NewMemory()
	p, _ := pii.New(s)
	r := record{ID: "1", Email: "a@example.com", Phone: "1"}
	if err := p.Protect(ctx, &r); err != nil {
		t.Fatal(err)
	}
	ks, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	k1 := ks.PrimaryKeyID()
	s.Rotate(ctx, "default", keys.KindAEAD)
	if err := s.Disable(ctx, "default", keys.KindAEAD, k1); err != nil {
		t.Fatal(err)
	}
	got := r
	if err := p.Reveal(ctx, &got); !errors.Is(err, pii.ErrKeyDisabled) {
		t.Fatalf("Reveal under a disabled key = %v, want ErrKeyDisabled", err)
	}
	if err := s.Enable(ctx, "default", keys.KindAEAD, k1); err != nil {
		t.Fatal(err)
	}
	if err := p.Reveal(ctx, &got); err != nil || got.Email != "a@example.com" {
		t.Fatalf("Reveal after Enable = %v, %q", err, got.Email)
	}
}

func TestAuditEvents(t *testing.T) {
	rec := &recorder{}
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
	if got := rec.types(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events = %v, want %v", got, want)
	}
	for _, e := range rec.events {
		if e.Keyset.String() != "crm/aead" || e.KeyID == 0 || e.Time.IsZero() {
			t.Errorf("event %+v lacks its keyset, key ID or time", e)
		}
	}
	if e := rec.events[len(rec.events)-1]; e.KeyID != k1 {
		t.Errorf("destroy event key ID = %d, want %d", e.KeyID, k1)
	}
	out := logs.String()
	if strings.Count(out, `"msg":"tillid key audit"`) != len(want) || !strings.Contains(out, `"event":"key.destroyed"`) || !strings.Contains(out, `"keyset":"crm/aead"`) {
		t.Errorf("slog output:\n%s", out)
	}
	// Only the documented attributes: no key material can slip in.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, f := range []string{"keyValue", "value\":", "key_data"} {
			if strings.Contains(line, f) {
				t.Errorf("audit log line holds %q: %s", f, line)
			}
		}
	}
	if keys.EventUnknown.String() != "unknown" {
		t.Error("EventUnknown.String()")
	}
}

type auditors []keys.Auditor

func (a auditors) Audit(ctx context.Context, e keys.Event) {
	for _, x := range a {
		x.Audit(ctx, e)
	}
}

func TestStoreOptionsRefused(t *testing.T) {
	kek, _ := keys.NewLocalKEK(newKEK(t))
	if _, err := keys.OpenFile(filepath.Join(t.TempDir(), "k.json"), kek, keys.WithCacheTTL(time.Second)); err == nil {
		t.Error("OpenFile accepted WithCacheTTL")
	}
	defer func() {
		if recover() == nil {
			t.Error("NewMemory(WithTable) did not panic")
		}
	}()
	keys.NewMemory(keys.WithTable("x"))
}
