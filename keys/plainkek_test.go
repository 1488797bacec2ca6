package keys_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// blockingKEK is a plain tink.AEAD (no context) whose calls wait for
// release before they reach the real KEK.
type blockingKEK struct {
	kek     tink.AEAD
	release chan struct{}
}

func (k blockingKEK) Encrypt(pt, ad []byte) ([]byte, error) {
	<-k.release
	return k.kek.Encrypt(pt, ad)
}

func (k blockingKEK) Decrypt(ct, ad []byte) ([]byte, error) {
	<-k.release
	return k.kek.Decrypt(ct, ad)
}

// A plain tink.AEAD that hangs is waited for only until the caller's
// deadline: Protect returns ErrKMSUnavailable wrapping the context's error,
// and the goroutine running the KEK call ends once the KEK returns.
func TestPlainKEKHonoursDeadline(t *testing.T) {
	kek := blockingKEK{kek: safetyKEK(t), release: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "keysets.json")
	s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	p, err := pii.New(s)
	require.NoError(t, err)
	type U struct {
		S string `pii:"encrypt"`
	}
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Protect(ctx, &U{S: "x"}) }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		close(kek.release)
		t.Fatal("Protect did not return at the caller's deadline")
	}
	assert.ErrorIs(t, err, keys.ErrKMSUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	close(kek.release)
	// Polled here, not with assert.Eventually, which runs its condition on
	// a goroutine of its own.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "the KEK call's goroutine did not end after the KEK returned")

	// Once the KEK answers, the store works again.
	require.NoError(t, p.Protect(context.Background(), &U{S: "x"}))
}
