package tokenize_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// countingStore counts Put calls and can make them fail or collide.
type countingStore struct {
	tokenize.Store
	puts      atomic.Int64
	failPut   error        // returned by every Put when set
	collide   atomic.Int64 // Puts still to answer with all "" (taken)
	lastBatch atomic.Int64
}

func (s *countingStore) Put(ctx context.Context, domain string, entries []tokenize.Entry, now time.Time) ([]string, error) {
	s.puts.Add(1)
	s.lastBatch.Store(int64(len(entries)))
	if s.failPut != nil {
		return nil, s.failPut
	}
	if s.collide.Add(-1) >= 0 {
		return make([]string, len(entries)), nil
	}
	return s.Store.Put(ctx, domain, entries, now)
}

func TestTokenizeBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &countingStore{Store: tokenize.NewMemoryStore()}
	tk := newTokenizer(t, keys.NewMemory(), store, "cpr", tokenize.ModeConsistent)
	oversized := strings.Repeat("0101901234", tokenize.MaxValueSize/10+1)
	tests := []struct {
		name    string
		value   string
		wantErr string
	}{
		{"empty", "", "value is empty"},
		{"oversized", oversized, "larger than 4096"},
		{"not UTF-8", "0101\xff901234", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := tk.Tokenize(ctx, tt.value)
		require.ErrorIs(t, err, tokenize.ErrInvalidValue, "Tokenize(%s) err = %v, want ErrInvalidValue containing %q", tt.name, err, tt.wantErr)
		assert.ErrorContains(t, err, tt.wantErr, "Tokenize(%s) err = %v, want ErrInvalidValue containing %q", tt.name, err, tt.wantErr)
		assert.True(t, strings.HasPrefix(err.Error(), "tokenize: "), "Tokenize(%s) err = %v, want ErrInvalidValue containing %q", tt.name, err, tt.wantErr)
		assert.False(t, err != nil && len(tt.value) > 0 && strings.Contains(err.Error(), "0101"), "Tokenize(%s): error carries the value", tt.name)
		// One bad item fails the whole batch, naming its position.
		_, err = tk.TokenizeBatch(ctx, []tokenize.Item{{Value: "0101901234"}, {Value: tt.value}})
		require.ErrorIs(t, err, tokenize.ErrInvalidValue, "TokenizeBatch with a %s item: err = %v, want ErrInvalidValue naming item 2", tt.name, err)
		assert.ErrorContains(t, err, "item 2: ", "TokenizeBatch with a %s item: err = %v, want ErrInvalidValue naming item 2", tt.name, err)
	}
	_, err := tk.Tokenize(ctx, "0101901234", tokenize.ExpiresIn(-time.Second))
	assert.Error(t, err, "Tokenize with a negative TTL succeeded")
	_, err = tk.TokenizeBatch(ctx, make([]tokenize.Item, tokenize.MaxBatchSize+1))
	require.Error(t, err, "TokenizeBatch of MaxBatchSize+1 items: err")
	assert.ErrorContains(t, err, "larger than", "TokenizeBatch of MaxBatchSize+1 items: err")
	n := store.puts.Load()
	assert.Zero(t, n, "bad input reached the store: %d Put calls", n)
	for _, tok := range []string{"", strings.Repeat("x", tokenize.MaxValueSize+1), "never-issued"} {
		_, err := tk.Detokenize(ctx, tok)
		if assert.ErrorIs(t, err, tokenize.ErrTokenNotFound, "Detokenize(%d-byte token)", len(tok)) && len(tok) > 0 && len(tok) < 100 {
			assert.NotContains(t, err.Error(), tok, "the error carries the token")
		}
	}
	assert.ErrorIs(t, tk.Delete(ctx, ""), tokenize.ErrTokenNotFound, "Delete(\"\")")
}

func TestTokenizeCollisionRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &countingStore{Store: tokenize.NewMemoryStore()}
	store.collide.Store(3)
	tk := newTokenizer(t, keys.NewMemory(), store, "cpr", tokenize.ModeRandom)
	toks, err := tk.TokenizeBatch(ctx, []tokenize.Item{{Value: "a"}, {Value: "b"}})
	require.NoError(t, err)
	n := store.puts.Load()
	assert.EqualValues(t, 4, n, "Put called %d times, want 4 (3 collisions, then success)", n)
	for i, want := range []string{"a", "b"} {
		got, err := tk.Detokenize(ctx, toks[i])
		assert.NoError(t, err, "Detokenize after retries = %q, %v", got, err)
		assert.Equal(t, want, got, "Detokenize after retries = %q, %v", got, err)
	}
	// A store that always reports collisions makes Tokenize give up.
	store.collide.Store(1 << 30)
	_, err = tk.Tokenize(ctx, "c")
	require.Error(t, err, "Tokenize against endless collisions: err")
	assert.ErrorContains(t, err, "colliding", "Tokenize against endless collisions: err")
}

func TestTokenizeStoreFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := tokenize.NewMemoryStore()
	store := &countingStore{Store: mem, failPut: errors.New("disk on fire")}
	tk := newTokenizer(t, keys.NewMemory(), store, "cpr", tokenize.ModeConsistent)
	tok, err := tk.Tokenize(ctx, "0101901234")
	require.Error(t, err, "Tokenize with a failing store = %q, %v", tok, err)
	require.Equal(t, "", tok, "Tokenize with a failing store = %q, %v", tok, err)
	require.ErrorContains(t, err, "disk on fire", "Tokenize with a failing store = %q, %v", tok, err)
	// The same store without the fault: the value has no token yet, so a
	// failed call left nothing behind that a later call would find.
	store.failPut = nil
	_, err = tk.Tokenize(ctx, "0101901234")
	require.NoError(t, err)
	n, err := mem.Delete(ctx, "cpr", tokenize.Selection{ExpiredAt: time.Now().Add(1000 * time.Hour)})
	assert.NoError(t, err, "unexpected entries: %d, %v", n, err)
	assert.Zero(t, n, "unexpected entries: %d, %v", n, err)
}

func TestTokenizeKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := keys.NewMemory()
	tk := newTokenizer(t, p, tokenize.NewMemoryStore(), "cpr", tokenize.ModeConsistent)
	old, err := tk.Tokenize(ctx, "0101901234")
	require.NoError(t, err)
	aead, err := p.Keyset(ctx, "tokenize-cpr", keys.KindAEAD)
	require.NoError(t, err)
	oldAEAD := aead.PrimaryKeyID()
	_, err = p.Rotate(ctx, "tokenize-cpr", keys.KindAEAD)
	require.NoError(t, err)
	// Same PRF key: consistent mode still finds the old token.
	again, err := tk.Tokenize(ctx, "0101901234")
	assert.NoError(t, err, "Tokenize after an AEAD rotation gave a new token (%v)", err)
	assert.Equal(t, old, again, "Tokenize after an AEAD rotation gave a new token (%v)", err)
	fresh, err := tk.Tokenize(ctx, "0202902345")
	require.NoError(t, err)
	for _, tok := range []string{old, fresh} {
		_, err := tk.Detokenize(ctx, tok)
		assert.NoError(t, err, "Detokenize after rotation")
	}
	require.NoError(t, p.Disable(ctx, "tokenize-cpr", keys.KindAEAD, oldAEAD))
	_, err = tk.Detokenize(ctx, old)
	assert.ErrorIs(t, err, keys.ErrKeyDisabled, "Detokenize under a disabled key: err = %v, want keys.ErrKeyDisabled", err)
	_, err = tk.Detokenize(ctx, fresh)
	assert.NoError(t, err, "Detokenize under the new primary")
	// After a PRF rotation a value gets a new token; the old one still works.
	require.NoError(t, p.Enable(ctx, "tokenize-cpr", keys.KindAEAD, oldAEAD))
	_, err = p.Rotate(ctx, "tokenize-cpr", keys.KindPRF)
	require.NoError(t, err)
	renewed, err := tk.Tokenize(ctx, "0101901234")
	assert.NoError(t, err, "Tokenize after a PRF rotation: same token %v, %v", renewed == old, err)
	assert.NotEqual(t, old, renewed, "Tokenize after a PRF rotation: same token %v, %v", renewed == old, err)
	v, err := tk.Detokenize(ctx, old)
	assert.NoError(t, err, "Detokenize of the pre-rotation token")
	assert.Equal(t, "0101901234", v, "Detokenize of the pre-rotation token")
}

func TestNew(t *testing.T) {
	t.Parallel()
	p := keys.NewMemory()
	s := tokenize.NewMemoryStore()
	tests := []struct {
		name     string
		provider keys.Provider
		store    tokenize.Store
		domain   string
		mode     tokenize.Mode
		opts     []tokenize.Option
	}{
		{"nil provider", nil, s, "cpr", tokenize.ModeRandom, nil},
		{"nil store", p, nil, "cpr", tokenize.ModeRandom, nil},
		{"empty domain", p, s, "", tokenize.ModeRandom, nil},
		{"domain with a dot", p, s, "c.pr", tokenize.ModeRandom, nil},
		{"long domain", p, s, strings.Repeat("a", 33), tokenize.ModeRandom, nil},
		{"zero mode", p, s, "cpr", tokenize.ModeUnknown, nil},
		{"nil format", p, s, "cpr", tokenize.ModeRandom, []tokenize.Option{tokenize.WithFormat(nil)}},
		{"zero TTL", p, s, "cpr", tokenize.ModeRandom, []tokenize.Option{tokenize.WithTTL(0)}},
		{"empty key name", p, s, "cpr", tokenize.ModeRandom, []tokenize.Option{tokenize.WithKeyName("")}},
		{"FPE option", p, s, "cpr", tokenize.ModeRandom, []tokenize.Option{tokenize.WithVisibleSuffix(4)}},
	}
	for _, tt := range tests {
		_, err := tokenize.New(tt.provider, tt.store, tt.domain, tt.mode, tt.opts...)
		require.Error(t, err, "New with %s: err = %v, want an error", tt.name, err)
		assert.True(t, strings.HasPrefix(err.Error(), "tokenize: "), "New with %s: err = %v, want an error", tt.name, err)
	}
	tk, err := tokenize.New(p, s, "cpr", tokenize.ModeConsistent)
	assert.NoError(t, err, "New = %v, %v", tk, err)
	assert.Equal(t, "cpr", tk.Domain(), "New = %v, %v", tk, err)
	assert.Equal(t, tokenize.ModeConsistent, tk.Mode(), "New = %v, %v", tk, err)
	_, err = tokenize.New(p, s, "cpr", tokenize.ModeRandom, tokenize.WithKeyName("Bad Name"))
	require.NoError(t, err, "the provider judges key names, on first use, not New")
}

func TestTokenizeProviderErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tk := newTokenizer(t, keys.NewMemory(), tokenize.NewMemoryStore(), "cpr", tokenize.ModeRandom, tokenize.WithKeyName("Bad Name"))
	_, err := tk.Tokenize(ctx, "0101901234")
	assert.ErrorIs(t, err, keys.ErrKeyNotFound, "Tokenize with a bad key name: err = %v, want keys.ErrKeyNotFound", err)
}

// An erasure is never reported complete while tokens may hide under a
// disabled PRF key; batch errors name their item.
func TestDeleteSubjectWithDisabledKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := keys.NewMemory()
	tk, err := tokenize.New(store, tokenize.NewMemoryStore(), "card", tokenize.ModeRandom)
	require.NoError(t, err)
	tok, err := tk.Tokenize(ctx, "4111111111111111", tokenize.ForSubject("c1"))
	require.NoError(t, err)
	ks, _ := store.Keyset(ctx, "tokenize-card", keys.KindPRF)
	old := ks.PrimaryKeyID()
	store.Rotate(ctx, "tokenize-card", keys.KindPRF)
	store.Disable(ctx, "tokenize-card", keys.KindPRF, old)
	n, err := tk.DeleteSubject(ctx, "c1")
	assert.ErrorIs(t, err, keys.ErrKeyDisabled, "DeleteSubject with a disabled key = %d, %v; want 0 and ErrKeyDisabled", n, err)
	assert.Zero(t, n, "DeleteSubject with a disabled key = %d, %v; want 0 and ErrKeyDisabled", n, err)
	store.Enable(ctx, "tokenize-card", keys.KindPRF, old)
	n, err = tk.DeleteSubject(ctx, "c1")
	assert.EqualValues(t, 1, n, "DeleteSubject after Enable = %d, %v", n, err)
	assert.NoError(t, err, "DeleteSubject after Enable = %d, %v", n, err)
	_, err = tk.Detokenize(ctx, tok)
	assert.ErrorIs(t, err, tokenize.ErrTokenNotFound, "token after erasure")
	_, err = tk.TokenizeBatch(ctx, []tokenize.Item{{Value: "a"}, {Value: ""}})
	var ie *tokenize.ItemError
	assert.True(t, errors.As(err, &ie), "TokenizeBatch with a bad second item")
	assert.EqualValues(t, 1, ie.Index, "TokenizeBatch with a bad second item")
}
