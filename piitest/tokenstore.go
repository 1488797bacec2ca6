package piitest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// MakeTokenStores returns n handles on one new, empty token vault, as n
// service instances would hold: the same memory store n times, n *sql.DB
// on one SQLite file, or n pools on one PostgreSQL database. It may
// register clean-ups on t.
type MakeTokenStores func(t *testing.T, n int) []tokenize.Store

// TestTokenStore is the conformance suite for tokenize.Store
// implementations, run through [tokenize.Tokenizer] as applications use
// them. It checks, as subtests: round trips in random and consistent mode
// (up to tokenize.MaxValueSize bytes); consistent lookups per data subject;
// that domains are separate and that an entry copied to another domain or
// token does not decrypt; one token per value under concurrent
// consistent-mode writers on several handles; unique random tokens under
// concurrency; expiry and Purge through an injected clock
// (tokenize.WithClock); Delete and DeleteSubject; batches, including a
// failing one that names its item; that a cancelled context fails a call
// instead of storing anything; and, for a tokenize.RewrapStore (every
// store must be one for tokenize.Tokenizer.Rewrap), vault rewrap: a pass
// interrupted and resumed on another handle moves every entry to the new
// keys, after which the old keys are disabled and every token
// detokenizes; Replace is a compare-and-set; and rewrap beside live
// deletes and writes on other handles loses or resurrects nothing.
func TestTokenStore(t *testing.T, newStores MakeTokenStores) {
	t.Helper()
	ctx := context.Background()
	newTokenizer := func(t *testing.T, p keys.Provider, s tokenize.Store, domain string, mode tokenize.Mode, opts ...tokenize.Option) *tokenize.Tokenizer {
		t.Helper()
		tk, err := tokenize.New(p, s, domain, mode, opts...)
		require.NoError(t, err, "tokenize.New")
		return tk
	}

	t.Run("RoundTrip", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := keys.NewMemory()
		for _, mode := range []tokenize.Mode{tokenize.ModeRandom, tokenize.ModeConsistent} {
			tk := newTokenizer(t, p, store, "cpr-"+mode.String(), mode)
			for _, v := range []string{"0101901234", "værdi med æøå", "x", strings.Repeat("v", tokenize.MaxValueSize)} {
				tok, err := tk.Tokenize(ctx, v)
				require.NoError(t, err, "%v: Tokenize", mode)
				assert.NotEqual(t, v, tok, "%v: Tokenize returned the value", mode)
				got, err := tk.Detokenize(ctx, tok)
				require.NoError(t, err, "%v: Detokenize", mode)
				assert.Equal(t, v, got, "%v: Detokenize(Tokenize(v)) != v", mode)
				again, err := tk.Tokenize(ctx, v)
				require.NoError(t, err)
				assert.Equal(t, mode == tokenize.ModeConsistent, again == tok, "%v: two Tokenize calls gave equal tokens", mode)
			}
		}
	})

	t.Run("ConsistentSubjects", func(t *testing.T) {
		tk := newTokenizer(t, keys.NewMemory(), newStores(t, 1)[0], "phone", tokenize.ModeConsistent)
		tokenFor := func(opts ...tokenize.TokenOption) string {
			tok, err := tk.Tokenize(ctx, "+4512345678", opts...)
			require.NoError(t, err)
			return tok
		}
		none, alice, alice2, bob := tokenFor(), tokenFor(tokenize.ForSubject("alice")), tokenFor(tokenize.ForSubject("alice")), tokenFor(tokenize.ForSubject("bob"))
		assert.Equal(t, alice, alice2, "same subject and value gave two tokens")
		assert.NotEqual(t, none, alice, "a subject's token equals the subject-less one")
		assert.NotEqual(t, alice, bob, "two subjects' tokens are equal")
	})

	t.Run("DomainsAreSeparate", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := keys.NewMemory()
		// Both domains share one key name, so only the domain in the
		// associated data and the store's key tells them apart.
		a := newTokenizer(t, p, store, "a", tokenize.ModeConsistent, tokenize.WithKeyName("shared"))
		b := newTokenizer(t, p, store, "b", tokenize.ModeConsistent, tokenize.WithKeyName("shared"))
		tok, err := a.Tokenize(ctx, "secret")
		require.NoError(t, err)
		_, err = b.Detokenize(ctx, tok)
		assert.ErrorIs(t, err, tokenize.ErrTokenNotFound, "Detokenize in another domain")
		// Copy the entry to domain b under the same token: it must not decrypt.
		entries, err := store.Get(ctx, "a", []string{tok}, time.Now())
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.Equal(t, tok, entries[0].Token, "Get of a stored token")
		_, err = store.Put(ctx, "b", entries, time.Now())
		require.NoError(t, err)
		_, err = b.Detokenize(ctx, tok)
		assert.ErrorIs(t, err, tokenize.ErrDecryption, "Detokenize of an entry moved to another domain")
		// Move it to another token in the same domain: it must not decrypt.
		moved := entries[0]
		moved.Token, moved.Index = "moved-token", nil
		_, err = store.Put(ctx, "a", []tokenize.Entry{moved}, time.Now())
		require.NoError(t, err)
		_, err = a.Detokenize(ctx, "moved-token")
		assert.ErrorIs(t, err, tokenize.ErrDecryption, "Detokenize of an entry moved to another token")
	})

	// One value tokenized from many goroutines spread over several handles
	// on one vault: every call must return the same token.
	t.Run("ConsistentConcurrent", func(t *testing.T) {
		stores := newStores(t, 4)
		p := keys.NewMemory()
		const goroutines = 32
		for round := range 3 {
			value := fmt.Sprintf("4111111111111%03d", round)
			tokens := make([]string, goroutines)
			errs := make([]error, goroutines)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := range goroutines {
				tk := newTokenizer(t, p, stores[g%len(stores)], "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
				wg.Go(func() {
					<-start
					if g%2 == 0 {
						tokens[g], errs[g] = tk.Tokenize(ctx, value)
						return
					}
					// Half of them in batches that also hold other values.
					toks, err := tk.TokenizeBatch(ctx, []tokenize.Item{{Value: fmt.Sprintf("5500000000000%03d", g)}, {Value: value}})
					if err == nil {
						tokens[g] = toks[1]
					}
					errs[g] = err
				})
			}
			close(start)
			wg.Wait()
			for g := range goroutines {
				require.NoError(t, errs[g], "goroutine %d", g)
				require.Equal(t, tokens[0], tokens[g], "round %d: goroutine %d got another token than goroutine 0", round, g)
			}
		}
	})

	t.Run("RandomConcurrent", func(t *testing.T) {
		stores := newStores(t, 2)
		p := keys.NewMemory()
		const goroutines, rounds = 16, 10
		var mu sync.Mutex
		seen := make(map[string]bool)
		errs := make(chan error, goroutines*rounds)
		var wg sync.WaitGroup
		for g := range goroutines {
			tk := newTokenizer(t, p, stores[g%2], "acct", tokenize.ModeRandom, tokenize.WithFormat(tokenize.RandomDigits()))
			wg.Go(func() {
				for range rounds {
					tok, err := tk.Tokenize(ctx, "12345678")
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if seen[tok] {
						errs <- fmt.Errorf("random mode issued a token twice")
					}
					seen[tok] = true
					mu.Unlock()
					if v, err := tk.Detokenize(ctx, tok); err != nil || v != "12345678" {
						errs <- fmt.Errorf("Detokenize = %d bytes, %v", len(v), err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		assert.Len(t, seen, goroutines*rounds)
	})

	t.Run("ExpiryAndPurge", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := keys.NewMemory()
		var clock Clock
		now, advance := clock.Now, clock.Advance
		const ttl = 5 * time.Minute
		tk := newTokenizer(t, p, store, "session", tokenize.ModeConsistent, tokenize.WithTTL(ttl), tokenize.WithClock(now))
		short, err := tk.Tokenize(ctx, "short-lived")
		require.NoError(t, err)
		long, err := tk.Tokenize(ctx, "long-lived", tokenize.ExpiresIn(time.Hour))
		require.NoError(t, err)
		forever := newTokenizer(t, p, store, "session-forever", tokenize.ModeRandom, tokenize.WithClock(now))
		kept, err := forever.Tokenize(ctx, "kept")
		require.NoError(t, err)

		_, err = tk.Detokenize(ctx, short)
		require.NoError(t, err, "Detokenize before expiry")
		n, err := tk.Purge(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "Purge before expiry")

		advance(ttl) // expiry is inclusive: at ExpiresAt the token is gone
		_, err = tk.Detokenize(ctx, short)
		assert.ErrorIs(t, err, tokenize.ErrTokenNotFound, "Detokenize at expiry")
		_, err = tk.Detokenize(ctx, long)
		assert.NoError(t, err, "Detokenize of a token with its own TTL")
		// Consistent mode gives an expired value a new token.
		renewed, err := tk.Tokenize(ctx, "short-lived")
		require.NoError(t, err)
		assert.NotEqual(t, short, renewed, "Tokenize after expiry returned the expired token")

		advance(ttl)
		n, err = tk.Purge(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "Purge: want the renewed token only (the expired one was replaced)")
		n, err = tk.Purge(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "second Purge")
		_, err = tk.Detokenize(ctx, long)
		assert.NoError(t, err, "Purge removed a token before its own expiry")
		_, err = forever.Detokenize(ctx, kept)
		assert.NoError(t, err, "Purge touched another domain")

		advance(time.Hour)
		n, err = tk.Purge(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "Purge after the long TTL")
	})

	t.Run("Delete", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := keys.NewMemory()
		tk := newTokenizer(t, p, store, "email", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Email(false)))
		other := newTokenizer(t, p, store, "email2", tokenize.ModeConsistent)
		tokenize := func(tk *tokenize.Tokenizer, v string, opts ...tokenize.TokenOption) string {
			t.Helper()
			tok, err := tk.Tokenize(ctx, v, opts...)
			require.NoError(t, err, "Tokenize")
			return tok
		}
		alice := tokenizeSubject("customer-1")
		aliceTokens := []string{tokenize(tk, "alice@example.com", alice), tokenize(tk, "alice@work.example", alice)}
		bob := tokenize(tk, "bob@example.com", tokenizeSubject("customer-2"))
		anon := tokenize(tk, "anon@example.com")
		elsewhere := tokenize(other, "alice@example.com", alice)
		// The subject index survives a PRF rotation.
		_, err := p.Rotate(ctx, "tokenize-email", keys.KindPRF)
		require.NoError(t, err)
		aliceTokens = append(aliceTokens, tokenize(tk, "alice@new.example", alice))

		n, err := tk.DeleteSubject(ctx, "customer-1")
		require.NoError(t, err, "DeleteSubject")
		assert.Equal(t, int64(3), n, "DeleteSubject count")
		for _, tok := range aliceTokens {
			_, err := tk.Detokenize(ctx, tok)
			assert.ErrorIs(t, err, errTokenNotFound, "Detokenize after DeleteSubject")
		}
		for _, tok := range []string{bob, anon} {
			_, err := tk.Detokenize(ctx, tok)
			assert.NoError(t, err, "DeleteSubject deleted another subject's token")
		}
		_, err = other.Detokenize(ctx, elsewhere)
		assert.NoError(t, err, "DeleteSubject deleted a token of another domain")
		n, err = tk.DeleteSubject(ctx, "customer-1")
		require.NoError(t, err)
		assert.Zero(t, n, "second DeleteSubject")
		_, err = tk.DeleteSubject(ctx, "")
		assert.ErrorIs(t, err, errInvalidValue, `DeleteSubject("")`)

		require.NoError(t, tk.Delete(ctx, bob), "Delete")
		_, err = tk.Detokenize(ctx, bob)
		assert.ErrorIs(t, err, errTokenNotFound, "Detokenize after Delete")
		assert.ErrorIs(t, tk.Delete(ctx, bob), errTokenNotFound, "second Delete")
		// The value gets a new token once its old one is deleted.
		again := tokenize(tk, "bob@example.com", tokenizeSubject("customer-2"))
		assert.NotEqual(t, bob, again, "Tokenize after Delete returned the deleted token")
	})

	t.Run("Batch", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := keys.NewMemory()
		for _, mode := range []tokenize.Mode{tokenize.ModeRandom, tokenize.ModeConsistent} {
			tk := newTokenizer(t, p, store, "batch-"+mode.String(), mode, tokenize.WithFormat(tokenize.KeepLast(4)))
			items := make([]tokenize.Item, 500)
			for i := range items {
				items[i] = tokenize.Item{Value: fmt.Sprintf("DK-%08d", i%250), Subject: fmt.Sprint(i % 7)}
			}
			items[0].Subject, items[250].Subject = "same", "same"
			toks, err := tk.TokenizeBatch(ctx, items)
			require.NoError(t, err, "%v: TokenizeBatch", mode)
			require.Len(t, toks, len(items))
			assert.Equal(t, mode == tokenize.ModeConsistent, toks[0] == toks[250], "%v: equal items got equal tokens", mode)
			vals, err := tk.DetokenizeBatch(ctx, toks)
			require.NoError(t, err, "%v: DetokenizeBatch", mode)
			for i := range items {
				require.Equal(t, items[i].Value, vals[i], "%v: DetokenizeBatch item %d", mode, i)
			}
			// A batch that repeats an existing value reuses its token.
			again, err := tk.TokenizeBatch(ctx, items[:3])
			require.NoError(t, err)
			for i := range again {
				assert.Equal(t, mode == tokenize.ModeConsistent, again[i] == toks[i], "%v: re-tokenized item %d kept its token", mode, i)
			}
			// One unknown token fails the batch and names its position.
			_, err = tk.DetokenizeBatch(ctx, []string{toks[0], "no-such-token"})
			assert.ErrorIs(t, err, errTokenNotFound, "DetokenizeBatch with an unknown token")
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), "token 2", "the error names the failing position")
			}
			out, err := tk.TokenizeBatch(ctx, nil)
			assert.NoError(t, err, "TokenizeBatch(nil)")
			assert.Empty(t, out, "TokenizeBatch(nil)")
		}
	})

	t.Run("ContextCancelled", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := keys.NewMemory()
		tk := newTokenizer(t, p, store, "ctx", tokenize.ModeConsistent)
		tok, err := tk.Tokenize(ctx, "before")
		require.NoError(t, err)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err = store.Put(cancelled, "ctx", []tokenize.Entry{{Token: "t-cancelled", Ciphertext: []byte("ct")}}, time.Now())
		assert.ErrorIs(t, err, context.Canceled, "Put with a cancelled context")
		got, err := store.Get(ctx, "ctx", []string{"t-cancelled"}, time.Now())
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Empty(t, got[0].Token, "Put with a cancelled context stored its entry")
		_, err = store.Get(cancelled, "ctx", []string{tok}, time.Now())
		assert.ErrorIs(t, err, context.Canceled, "Get with a cancelled context")
		_, err = store.Delete(cancelled, "ctx", tokenize.Selection{Tokens: []string{tok}})
		assert.ErrorIs(t, err, context.Canceled, "Delete with a cancelled context")
		v, err := tk.Detokenize(ctx, tok)
		require.NoError(t, err, "Delete with a cancelled context deleted the token")
		assert.Equal(t, "before", v)
	})

	testTokenRewrap(t, newStores)
}

// The names of the tokenize package's sentinels and options, for the
// subtests that shadow the package name.
var (
	errTokenNotFound = tokenize.ErrTokenNotFound
	errInvalidValue  = tokenize.ErrInvalidValue
	tokenizeSubject  = tokenize.ForSubject
)
