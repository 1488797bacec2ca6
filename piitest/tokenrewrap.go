package piitest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

// rewrapAll runs tk.Rewrap from cursor until Done in batches of limit,
// stopping early (not Done) once stop reports true, and returns the summed
// progress, whose Cursor is where it stopped.
func rewrapAll(t *testing.T, tk *tokenize.Tokenizer, cursor string, limit int, stop func(tokenize.RewrapProgress) bool) tokenize.RewrapProgress {
	t.Helper()
	var sum tokenize.RewrapProgress
	sum.Cursor = cursor
	for {
		p, err := tk.Rewrap(context.Background(), sum.Cursor, limit)
		require.NoError(t, err, "Rewrap from a cursor")
		require.LessOrEqual(t, p.Scanned, limit, "Rewrap scanned more than its limit")
		sum.Cursor, sum.Done = p.Cursor, p.Done
		sum.Scanned += p.Scanned
		sum.Rewrapped += p.Rewrapped
		sum.Current += p.Current
		sum.Changed += p.Changed
		sum.Kept += p.Kept
		sum.Failed += p.Failed
		if p.Done || (stop != nil && stop(sum)) {
			return sum
		}
	}
}

// keyIDOf returns the Tink key ID in a vault ciphertext's prefix.
func keyIDOf(ct []byte) uint32 {
	if len(ct) < 5 {
		return 0
	}
	return binary.BigEndian.Uint32(ct[1:5])
}

// testTokenRewrap is the rewrap part of [TestTokenStore].
func testTokenRewrap(t *testing.T, newStores MakeTokenStores) {
	ctx := context.Background()
	rewrapStore := func(t *testing.T, s tokenize.Store) tokenize.RewrapStore {
		t.Helper()
		rs, ok := s.(tokenize.RewrapStore)
		require.True(t, ok, "%T does not implement tokenize.RewrapStore", s)
		return rs
	}
	newTokenizer := func(t *testing.T, p keys.Provider, s tokenize.Store, domain string, mode tokenize.Mode) *tokenize.Tokenizer {
		t.Helper()
		tk, err := tokenize.New(p, s, domain, mode)
		require.NoError(t, err)
		return tk
	}

	// The runbook: tokenize, rotate both keysets, rewrap in small batches
	// (interrupted and resumed on another handle), disable the old keys,
	// and every token detokenizes; consistent tokens without a subject keep
	// their token under the new PRF key.
	t.Run("Rewrap", func(t *testing.T) {
		stores := newStores(t, 2)
		rewrapStore(t, stores[0])
		p := keys.NewMemory()
		const domain, n = "rewrap", 40
		tk := newTokenizer(t, p, stores[0], domain, tokenize.ModeConsistent)
		want := map[string]string{}        // token -> value
		plain := map[string]string{}       // subject-less value -> its token
		withSubject := map[string]string{} // value of a subject -> its token
		var plainValues []string
		subjects := 0
		for i := range n {
			v := fmt.Sprintf("value-%03d", i)
			var opts []tokenize.TokenOption
			if i%4 == 0 {
				opts = append(opts, tokenize.ForSubject(fmt.Sprint("subject-", i)))
				subjects++
			}
			tok, err := tk.Tokenize(ctx, v, opts...)
			require.NoError(t, err)
			want[tok] = v
			if opts == nil {
				plain[v] = tok
				plainValues = append(plainValues, v)
			} else {
				withSubject[v] = tok
			}
		}
		oldAEAD, err := p.Keyset(ctx, "tokenize-"+domain, keys.KindAEAD)
		require.NoError(t, err)
		oldPRF, err := p.Keyset(ctx, "tokenize-"+domain, keys.KindPRF)
		require.NoError(t, err)
		newAEAD, err := p.Rotate(ctx, "tokenize-"+domain, keys.KindAEAD)
		require.NoError(t, err)
		_, err = p.Rotate(ctx, "tokenize-"+domain, keys.KindPRF)
		require.NoError(t, err)
		// After the PRF rotation a subject-less value gets a second token:
		// rewrap must not take its index from it.
		twice := plainValues[0]
		second, err := tk.Tokenize(ctx, twice)
		require.NoError(t, err)
		require.NotEqual(t, plain[twice], second, "after a PRF rotation a value gets a new token")
		want[second] = twice

		first := rewrapAll(t, tk, "", 7, func(p tokenize.RewrapProgress) bool { return p.Scanned >= n/2 })
		require.False(t, first.Done, "the interrupted pass stopped before the end")
		resumed := newTokenizer(t, p, stores[1], domain, tokenize.ModeConsistent)
		rest := rewrapAll(t, resumed, first.Cursor, 7, nil)
		assert.Equal(t, n+1, first.Scanned+rest.Scanned, "an interrupted and resumed pass scans every entry once")
		assert.Equal(t, n, first.Rewrapped+rest.Rewrapped, "every entry under the old keys is rewrapped")
		assert.Equal(t, 1, first.Current+rest.Current, "the entry made after the rotation is current")
		assert.Equal(t, subjects, first.Kept+rest.Kept, "entries with a subject keep their PRF entries")
		assert.Zero(t, first.Changed+rest.Changed+first.Failed+rest.Failed, "nothing changed or failed")

		again := rewrapAll(t, tk, "", 1000, nil)
		assert.Zero(t, again.Rewrapped, "a second pass rewraps nothing")
		assert.Equal(t, subjects, again.Kept, "a second pass still reports the kept subject entries")
		assert.Equal(t, n+1-subjects, again.Current, "a second pass finds the rest current")

		for _, id := range oldAEAD.EnabledKeyIDs() {
			require.NoError(t, p.Disable(ctx, "tokenize-"+domain, keys.KindAEAD, id), "disabling the old AEAD key")
		}
		toks := make([]string, 0, len(want))
		for tok := range want {
			toks = append(toks, tok)
		}
		entries, err := stores[1].Get(ctx, domain, toks, time.Now())
		require.NoError(t, err)
		for i, e := range entries {
			assert.Equal(t, newAEAD, keyIDOf(e.Ciphertext), "entry %d is under the new AEAD primary", i)
		}
		vals, err := tk.DetokenizeBatch(ctx, toks)
		require.NoError(t, err, "DetokenizeBatch with the old AEAD key disabled")
		for i, tok := range toks {
			assert.Equal(t, want[tok], vals[i], "token %d detokenizes to its value", i)
		}
		// With the old PRF key disabled too, a subject-less value finds its
		// token through the recomputed index.
		for _, id := range oldPRF.EnabledKeyIDs() {
			require.NoError(t, p.Disable(ctx, "tokenize-"+domain, keys.KindPRF, id), "disabling the old PRF key")
		}
		for v, tok := range plain {
			got, err := tk.Tokenize(ctx, v)
			require.NoError(t, err, "Tokenize with the old PRF key disabled")
			if v == twice {
				assert.Equal(t, second, got, "the value with two tokens keeps the newer one as its token")
			} else {
				assert.Equal(t, tok, got, "a consistent token survives the PRF rotation")
			}
		}
		// A subject's entry is not indexed as if it had no subject.
		for v, tok := range withSubject {
			got, err := tk.Tokenize(ctx, v)
			require.NoError(t, err)
			assert.NotEqual(t, tok, got, "a subject-less Tokenize found a subject's token")
		}
	})

	// Replace is a compare-and-set: a deleted entry is not brought back,
	// an entry replaced since the scan is not overwritten, and an index
	// held by another entry is left to it.
	t.Run("RewrapCompareAndSet", func(t *testing.T) {
		store := newStores(t, 1)[0]
		rs := rewrapStore(t, store)
		p := keys.NewMemory()
		const domain = "rewrap-cas"
		tk := newTokenizer(t, p, store, domain, tokenize.ModeConsistent)
		var toks []string
		for _, v := range []string{"deleted", "replaced", "index-a", "index-b"} {
			tok, err := tk.Tokenize(ctx, v)
			require.NoError(t, err)
			toks = append(toks, tok)
		}
		scanned, err := rs.Scan(ctx, domain, "", 10, time.Now())
		require.NoError(t, err)
		require.Len(t, scanned, 4)
		after, err := rs.Scan(ctx, domain, scanned[1].Token, 10, time.Now())
		require.NoError(t, err)
		if assert.Len(t, after, 2, "Scan after the second token") {
			assert.Equal(t, []string{scanned[2].Token, scanned[3].Token}, []string{after[0].Token, after[1].Token}, "Scan resumes in its own order")
		}
		limited, err := rs.Scan(ctx, domain, "", 3, time.Now())
		require.NoError(t, err)
		assert.Len(t, limited, 3, "Scan honours its limit")
		byToken := map[string]tokenize.Entry{}
		for _, e := range scanned {
			byToken[e.Token] = e
		}
		deleted, replaced, a, b := byToken[toks[0]], byToken[toks[1]], byToken[toks[2]], byToken[toks[3]]

		require.NoError(t, tk.Delete(ctx, deleted.Token))
		res, err := rs.Replace(ctx, domain, []tokenize.Replacement{{Token: deleted.Token, Old: deleted.Ciphertext, Ciphertext: deleted.Ciphertext, Index: deleted.Index}}, time.Now())
		require.NoError(t, err)
		assert.Equal(t, []bool{false}, res, "Replace of a deleted entry")
		_, err = tk.Detokenize(ctx, deleted.Token)
		assert.ErrorIs(t, err, errTokenNotFound, "Replace brought a deleted entry back")

		stale := tokenize.Replacement{Token: replaced.Token, Old: []byte("not the stored ciphertext"), Ciphertext: a.Ciphertext}
		res, err = rs.Replace(ctx, domain, []tokenize.Replacement{stale}, time.Now())
		require.NoError(t, err)
		assert.Equal(t, []bool{false}, res, "Replace with a stale old ciphertext")
		v, err := tk.Detokenize(ctx, replaced.Token)
		require.NoError(t, err, "a refused Replace changed the entry")
		assert.Equal(t, "replaced", v)

		// a takes b's index: a is stored without an index, b keeps it.
		res, err = rs.Replace(ctx, domain, []tokenize.Replacement{{Token: a.Token, Old: a.Ciphertext, Ciphertext: a.Ciphertext, Index: b.Index, Subject: a.Subject}}, time.Now())
		require.NoError(t, err)
		assert.Equal(t, []bool{true}, res, "Replace with a taken index")
		got, err := store.Get(ctx, domain, []string{a.Token, b.Token}, time.Now())
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Nil(t, got[0].Index, "the entry whose new index was taken has none")
		assert.Equal(t, b.Index, got[1].Index, "the holder keeps its index")
		again, err := tk.Tokenize(ctx, "index-b")
		require.NoError(t, err)
		assert.Equal(t, b.Token, again, "the holder is still the value's token")
		v, err = tk.Detokenize(ctx, a.Token)
		require.NoError(t, err, "the entry without an index still detokenizes")
		assert.Equal(t, "index-a", v)
	})

	// Rewrap beside live traffic on other handles: tokens deleted during
	// the job stay deleted, tokens made during it detokenize, and after the
	// job and the old key's disabling every live token detokenizes.
	t.Run("RewrapConcurrent", func(t *testing.T) {
		stores := newStores(t, 3)
		p := keys.NewMemory()
		const domain, n = "rewrap-live", 300
		tk := newTokenizer(t, p, stores[0], domain, tokenize.ModeRandom)
		items := make([]tokenize.Item, n)
		for i := range items {
			items[i] = tokenize.Item{Value: fmt.Sprintf("v%04d", i)}
		}
		toks, err := tk.TokenizeBatch(ctx, items)
		require.NoError(t, err)
		old, err := p.Keyset(ctx, "tokenize-"+domain, keys.KindAEAD)
		require.NoError(t, err)
		_, err = p.Rotate(ctx, "tokenize-"+domain, keys.KindAEAD)
		require.NoError(t, err)

		var wg sync.WaitGroup
		var mu sync.Mutex
		live := map[string]string{}
		for i, tok := range toks {
			live[tok] = items[i].Value
		}
		deleter := newTokenizer(t, p, stores[1], domain, tokenize.ModeRandom)
		writer := newTokenizer(t, p, stores[2], domain, tokenize.ModeRandom)
		errs := make(chan error, 2*n)
		wg.Go(func() {
			for i := 0; i < n; i += 3 {
				if err := deleter.Delete(ctx, toks[i]); err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				delete(live, toks[i])
				mu.Unlock()
			}
		})
		wg.Go(func() {
			for i := range n / 3 {
				v := fmt.Sprintf("new%04d", i)
				tok, err := writer.Tokenize(ctx, v)
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				live[tok] = v
				mu.Unlock()
			}
		})
		sum := rewrapAll(t, tk, "", 16, nil)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "live traffic during Rewrap")
		}
		assert.Zero(t, sum.Failed, "Rewrap beside live traffic")
		// A last pass picks up what the first one raced with.
		last := rewrapAll(t, tk, "", 64, nil)
		assert.Zero(t, last.Rewrapped+last.Changed+last.Failed, "the last pass finds everything current")

		for _, id := range old.EnabledKeyIDs() {
			require.NoError(t, p.Disable(ctx, "tokenize-"+domain, keys.KindAEAD, id))
		}
		for i := 0; i < n; i += 3 {
			_, err := tk.Detokenize(ctx, toks[i])
			assert.ErrorIs(t, err, errTokenNotFound, "a token deleted during Rewrap came back")
		}
		for tok, v := range live {
			got, err := tk.Detokenize(ctx, tok)
			if assert.NoError(t, err, "Detokenize after Rewrap with the old key disabled") {
				assert.Equal(t, v, got)
			}
		}
	})
}
