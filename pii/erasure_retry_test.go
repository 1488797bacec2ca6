package pii_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// flakyVault is a token store whose Delete fails while down is set.
type flakyVault struct {
	tokenize.Store
	down atomic.Bool
}

var errVaultDown = errors.New("vault down")

func (v *flakyVault) Delete(ctx context.Context, domain string, sel tokenize.Selection) (int64, error) {
	if v.down.Load() {
		return 0, errVaultDown
	}
	return v.Store.Delete(ctx, domain, sel)
}

// recordingAuditor keeps the events it receives.
type recordingAuditor struct {
	mu     sync.Mutex
	events []keys.Event
}

func (a *recordingAuditor) Audit(_ context.Context, e keys.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func (a *recordingAuditor) of(t keys.EventType) []keys.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []keys.Event
	for _, e := range a.events {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

type retryMember struct {
	ID    string `pii:"subject"`
	Email string `pii:"encrypt"`
	Promo string `pii:"encrypt,purpose=marketing"`
	Card  string `pii:"tokenize=card"`
}

type erasureEnv struct {
	p     *pii.Protector
	vault *flakyVault
	audit *recordingAuditor
	clock *atomic.Int64
}

func newErasureEnv(t *testing.T) *erasureEnv {
	t.Helper()
	e := &erasureEnv{vault: &flakyVault{Store: tokenize.NewMemoryStore()}, audit: &recordingAuditor{}, clock: &atomic.Int64{}}
	e.clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(e.clock.Load(), 0).UTC() }
	provider := keys.NewMemory()
	sk, err := keys.NewSubjectKeys(provider, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger(),
		keys.WithSubjectAuditor(e.audit), keys.WithSubjectClock(now))
	require.NoError(t, err)
	tok, err := tokenize.New(provider, e.vault, "card", tokenize.ModeRandom, tokenize.WithFormat(tokenize.Card(6, 4)))
	require.NoError(t, err)
	e.p, err = pii.New(provider, pii.WithSubjectKeys(sk), pii.WithVault(tok))
	require.NoError(t, err)
	return e
}

// A Forget that fails at the vault, retried, returns the complete receipt:
// the keys the first attempt destroyed and the tokens the retry deleted,
// with Earlier set; and only the successful call sends the one
// erasure-complete audit event, with counts and the pseudonym only.
func TestForgetRetryReceiptIsComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newErasureEnv(t)
	m := retryMember{ID: "s-42", Email: "a@example.com", Promo: "cats", Card: "4111111111111111"}
	require.NoError(t, e.p.Protect(ctx, &m))

	e.vault.down.Store(true)
	_, err := e.p.Forget(ctx, "s-42")
	require.ErrorIs(t, err, errVaultDown, "the first attempt fails at the vault")
	assert.Empty(t, e.audit.of(keys.EventErasureComplete), "a failed erasure is not reported complete")

	e.vault.down.Store(false)
	e.clock.Add(60)
	r, err := e.p.Forget(ctx, "s-42")
	require.NoError(t, err)
	assert.Equal(t, []string{"", "marketing"}, r.Keys, "the retry's receipt lists the keys the failed attempt destroyed")
	assert.True(t, r.Earlier, "and says they were destroyed earlier")
	assert.Equal(t, int64(1), r.Tokens, "the retry deleted the subject's token")
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), r.Time.UTC(), "the first erasure's time")

	done := e.audit.of(keys.EventErasureComplete)
	require.Len(t, done, 1, "one erasure-complete event per successful Forget")
	assert.Equal(t, int64(2), done[0].Done, "keys destroyed")
	assert.Equal(t, int64(1), done[0].Tokens, "vault tokens deleted")
	assert.Equal(t, r.Pseudonym, done[0].Subject, "named by its pseudonym")
	assert.Equal(t, keys.AllPurposes, done[0].Purpose)
	for _, ev := range e.audit.events {
		assert.NotContains(t, ev.Subject.String(), "s-42", "no subject ID in %v", ev.Type)
		assert.NotContains(t, ev.Purpose, "s-42")
	}
	assert.Equal(t, "subject.erasure_complete", keys.EventErasureComplete.String())

	// A first-time erasure is not Earlier; a repeat destroys nothing more.
	other := retryMember{ID: "s-43", Email: "b@example.com"}
	require.NoError(t, e.p.Protect(ctx, &other))
	first, err := e.p.Forget(ctx, "s-43")
	require.NoError(t, err)
	assert.Equal(t, []string{"", "marketing"}, first.Keys, "an empty field is sealed too")
	assert.False(t, first.Earlier, "nothing was destroyed before")
}

// Withdraw sends one erasure-complete event, with no tokens.
func TestWithdrawAuditEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newErasureEnv(t)
	m := retryMember{ID: "s-7", Email: "c@example.com", Promo: "dogs"}
	require.NoError(t, e.p.Protect(ctx, &m))
	r, err := e.p.Withdraw(ctx, "s-7", "marketing")
	require.NoError(t, err)
	assert.Equal(t, []string{"marketing"}, r.Keys)
	done := e.audit.of(keys.EventErasureComplete)
	require.Len(t, done, 1)
	assert.Equal(t, int64(1), done[0].Done)
	assert.Equal(t, int64(0), done[0].Tokens)
	assert.Equal(t, "marketing", done[0].Purpose)
}
