package piitest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

// MakeSubjectKeyStores returns n handles on one new, empty subject-key
// store, as n service instances would hold: the same memory store n times,
// n *sql.DB on one SQLite file, or n pools on one PostgreSQL database. It
// may register clean-ups on t.
type MakeSubjectKeyStores func(t *testing.T, n int) []keys.SubjectKeyStore

// TestSubjectKeyStore is the conformance suite for keys.SubjectKeyStore
// implementations, run through keys.SubjectKeys as applications use them.
// It checks, as subtests: keys made once per subject and purpose and
// shared by instances, in batches; that Lookup tells erased keys
// (keys.ErrErased) from keys never made (keys.ErrKeyNotFound); Forget and
// Withdraw, their receipts and idempotence; erasure of a subject never
// seen; Allow after fresh consent, whose tombstone stays (old values read
// as erased before and after new keys are made, from another instance
// too); that an instance stops using an erased
// key within its cache TTL (an injected clock); that Forget racing the
// creation of the same subject's keys leaves no key stored or served, and
// that a load overlapping Forget is not cached; that the store never
// creates under a tombstone, and that concurrent batches sharing subjects
// agree on their keys; that a tampered or moved wrapped key fails as
// keys.ErrWrongKEK; single-flight loading, which an erasure of another
// subject does not disturb; Rewrap after a rotation of the wrapping
// keyset (for stores that implement keys.SubjectKeyRewrapper); that empty
// subject IDs are refused; that no subject ID shows in errors, receipts or
// audit events; and that a failed erasure gives no receipt and a retry
// completes it.
func TestSubjectKeyStore(t *testing.T, newStores MakeSubjectKeyStores) {
	t.Helper()
	ctx := context.Background()
	provider := keys.NewMemory()
	newKeys := func(t *testing.T, store keys.SubjectKeyStore, ledger keys.Ledger, opts ...keys.SubjectOption) *keys.SubjectKeys {
		t.Helper()
		if ledger == nil {
			ledger = keys.NewMemoryLedger()
		}
		sk, err := keys.NewSubjectKeys(provider, store, ledger, opts...)
		require.NoError(t, err, "NewSubjectKeys")
		return sk
	}
	id := func(subject, purpose string, kind keys.Kind) keys.SubjectKeyID {
		return keys.SubjectKeyID{Subject: subject, Purpose: purpose, Kind: kind}
	}
	seal := func(t *testing.T, ks *keys.Keyset, msg string) []byte {
		t.Helper()
		a, err := ks.AEAD()
		require.NoError(t, err)
		ct, err := a.Encrypt([]byte(msg), []byte("ad"))
		require.NoError(t, err)
		return ct
	}
	opens := func(ks *keys.Keyset, ct []byte) bool {
		a, err := ks.AEAD()
		if err != nil {
			return false
		}
		_, err = a.Decrypt(ct, []byte("ad"))
		return err == nil
	}
	stored := func(t *testing.T, store keys.SubjectKeyStore, sk *keys.SubjectKeys, subject string) []keys.SubjectKeyRow {
		t.Helper()
		p, err := sk.Pseudonym(ctx, subject)
		require.NoError(t, err)
		rows, err := store.Load(ctx, []keys.Pseudonym{p})
		require.NoError(t, err)
		return rows
	}
	liveKeys := func(rows []keys.SubjectKeyRow) (n int) {
		for _, r := range rows {
			if r.Wrapped != nil {
				n++
			}
		}
		return n
	}

	t.Run("KeysAreMadeOnceAndShared", func(t *testing.T) {
		stores := newStores(t, 2)
		a, b := newKeys(t, stores[0], nil), newKeys(t, stores[1], nil)
		ids := []keys.SubjectKeyID{id("alice", "", keys.KindAEAD), id("alice", "billing", keys.KindAEAD), id("alice", "", keys.KindDeterministicAEAD), id("bob", "", keys.KindAEAD)}
		first, err := a.Keys(ctx, ids)
		require.NoError(t, err)
		require.Len(t, first, len(ids))
		again, err := a.Keys(ctx, ids)
		require.NoError(t, err)
		fromB, err := b.Keys(ctx, ids)
		require.NoError(t, err)
		for i := range ids {
			if ids[i].Kind != keys.KindAEAD {
				continue
			}
			ct := seal(t, first[i], "value")
			assert.True(t, opens(again[i], ct), "%v: a second Keys gave another key", ids[i])
			assert.True(t, opens(fromB[i], ct), "%v: another instance gave another key", ids[i])
		}
		assert.False(t, opens(first[1], seal(t, first[0], "v")), "two purposes share a key")
		assert.False(t, opens(first[3], seal(t, first[0], "v")), "two subjects share a key")
		d, err := first[2].DeterministicAEAD()
		require.NoError(t, err)
		c1, err := d.EncryptDeterministically([]byte("v"), nil)
		require.NoError(t, err)
		d2, err := fromB[2].DeterministicAEAD()
		require.NoError(t, err)
		c2, err := d2.EncryptDeterministically([]byte("v"), nil)
		require.NoError(t, err)
		assert.Equal(t, c1, c2, "deterministic subject keys differ between instances")
	})

	t.Run("Batch", func(t *testing.T) {
		stores := newStores(t, 2)
		a, b := newKeys(t, stores[0], nil), newKeys(t, stores[1], nil)
		const n = 500
		ids := make([]keys.SubjectKeyID, 0, 2*n)
		for i := range n {
			ids = append(ids, id(fmt.Sprintf("subject-%d", i), "", keys.KindAEAD), id(fmt.Sprintf("subject-%d", i), "marketing", keys.KindAEAD))
		}
		got, err := a.Keys(ctx, ids)
		require.NoError(t, err)
		fromB, _, err := b.Lookup(ctx, ids)
		require.NoError(t, err)
		seen := map[uint32]bool{}
		for i := range ids {
			require.NotNil(t, fromB[i], "item %d not stored", i)
			assert.True(t, opens(fromB[i], seal(t, got[i], "v")), "item %d: stored key differs", i)
			seen[got[i].PrimaryKeyID()] = true
		}
		assert.Greater(t, len(seen), 2*n-3, "key IDs repeat: keys are not distinct")
	})

	t.Run("LookupTellsErasedFromUnknown", func(t *testing.T) {
		sk := newKeys(t, newStores(t, 1)[0], nil)
		_, err := sk.Keys(ctx, []keys.SubjectKeyID{id("carol", "", keys.KindAEAD)})
		require.NoError(t, err)
		_, err = sk.Forget(ctx, "carol")
		require.NoError(t, err)
		ks, errs, err := sk.Lookup(ctx, []keys.SubjectKeyID{id("carol", "", keys.KindAEAD), id("dave", "", keys.KindAEAD), id("carol", "other", keys.KindDeterministicAEAD)})
		require.NoError(t, err)
		tests := []struct {
			name, reason string
			want         error
			not          error
		}{
			{name: "forgotten", want: keys.ErrErased, not: keys.ErrKeyNotFound},
			{name: "never seen", want: keys.ErrKeyNotFound, not: keys.ErrErased},
			{name: "forgotten, purpose never used", want: keys.ErrErased, not: keys.ErrKeyNotFound, reason: "Forget covers every purpose, also those with no key yet"},
		}
		for i, tt := range tests {
			assert.Nil(t, ks[i], "%s: Lookup returned a keyset", tt.name)
			assert.ErrorIs(t, errs[i], tt.want, "%s: %s", tt.name, tt.reason)
			assert.NotErrorIs(t, errs[i], tt.not, tt.name)
		}
		assert.ErrorIs(t, errs[0], keys.ErrKeyDestroyed, "ErrErased must match ErrKeyDestroyed")
	})

	t.Run("Forget", func(t *testing.T) {
		store := newStores(t, 1)[0]
		ledger := keys.NewMemoryLedger()
		sk := newKeys(t, store, ledger)
		_, err := sk.Keys(ctx, []keys.SubjectKeyID{id("erin", "", keys.KindAEAD), id("erin", "billing", keys.KindAEAD), id("frank", "", keys.KindAEAD)})
		require.NoError(t, err)
		receipt, err := sk.Forget(ctx, "erin")
		require.NoError(t, err)
		p, err := sk.Pseudonym(ctx, "erin")
		require.NoError(t, err)
		assert.Equal(t, p, receipt.Pseudonym)
		assert.Equal(t, keys.AllPurposes, receipt.Purpose)
		assert.Equal(t, []string{"", "billing"}, receipt.Destroyed)
		assert.False(t, receipt.Time.IsZero(), "receipt without a time")
		assert.Zero(t, liveKeys(stored(t, store, sk, "erin")), "key material still stored after Forget")
		_, err = sk.Keys(ctx, []keys.SubjectKeyID{id("erin", "", keys.KindAEAD)})
		assert.ErrorIs(t, err, keys.ErrErased, "Keys minted a key for a forgotten subject")
		_, err = sk.Keys(ctx, []keys.SubjectKeyID{id("frank", "", keys.KindAEAD)})
		assert.NoError(t, err, "Forget of one subject broke another")

		repeat, err := sk.Forget(ctx, "erin")
		require.NoError(t, err)
		assert.Empty(t, repeat.Destroyed, "a repeated Forget destroyed something")
		assert.True(t, repeat.Time.Equal(receipt.Time), "a repeated Forget moved the erasure time: %v, want %v", repeat.Time, receipt.Time)
		entries, err := ledger.Since(ctx, time.Time{})
		require.NoError(t, err)
		require.Len(t, entries, 1, "ledger entries: a repeated Forget is recorded once")
		assert.Equal(t, keys.LedgerErase, entries[0].Op)
		assert.Equal(t, p, entries[0].Pseudonym)
		assert.Equal(t, []string{"", "billing"}, entries[0].Destroyed)
	})

	t.Run("Withdraw", func(t *testing.T) {
		store := newStores(t, 1)[0]
		sk := newKeys(t, store, nil)
		ids := []keys.SubjectKeyID{id("gina", "", keys.KindAEAD), id("gina", "marketing", keys.KindAEAD), id("gina", "billing", keys.KindAEAD)}
		before, err := sk.Keys(ctx, ids)
		require.NoError(t, err)
		receipt, err := sk.Withdraw(ctx, "gina", "marketing")
		require.NoError(t, err)
		assert.Equal(t, "marketing", receipt.Purpose)
		assert.Equal(t, []string{"marketing"}, receipt.Destroyed)
		got, errs, err := sk.Lookup(ctx, ids)
		require.NoError(t, err)
		assert.ErrorIs(t, errs[1], keys.ErrErased, "withdrawn purpose")
		for _, i := range []int{0, 2} {
			require.NoError(t, errs[i], "%v after Withdraw of another purpose", ids[i])
			assert.True(t, opens(got[i], seal(t, before[i], "v")), "%v changed after Withdraw of another purpose", ids[i])
		}
		_, err = sk.Keys(ctx, ids[1:2])
		assert.ErrorIs(t, err, keys.ErrErased, "Keys minted a key for a withdrawn purpose")
		assert.Equal(t, 2, liveKeys(stored(t, store, sk, "gina")), "live keys after Withdraw")
	})

	t.Run("UnknownSubject", func(t *testing.T) {
		ledger := keys.NewMemoryLedger()
		sk := newKeys(t, newStores(t, 1)[0], ledger)
		receipt, err := sk.Forget(ctx, "never-held")
		require.NoError(t, err, "Forget of a subject the store never saw")
		assert.Empty(t, receipt.Destroyed)
		entries, err := ledger.Since(ctx, time.Time{})
		require.NoError(t, err)
		assert.Len(t, entries, 1, "the request is not in the ledger")
		_, errs, err := sk.Lookup(ctx, []keys.SubjectKeyID{id("never-held", "", keys.KindAEAD)})
		require.NoError(t, err)
		assert.ErrorIs(t, errs[0], keys.ErrErased, "no tombstone for an unknown subject")
		_, err = sk.Keys(ctx, []keys.SubjectKeyID{id("never-held", "", keys.KindAEAD)})
		assert.ErrorIs(t, err, keys.ErrErased, "a key was made for a subject erased before it was held")
	})

	t.Run("Allow", func(t *testing.T) {
		store := newStores(t, 1)[0]
		sk := newKeys(t, store, nil)
		ids := []keys.SubjectKeyID{id("hana", "", keys.KindAEAD), id("hana", "marketing", keys.KindAEAD)}
		old, err := sk.Keys(ctx, ids)
		require.NoError(t, err)
		ct := seal(t, old[0], "v")
		_, err = sk.Withdraw(ctx, "hana", "marketing")
		require.NoError(t, err)
		_, err = sk.Forget(ctx, "hana")
		require.NoError(t, err)
		require.NoError(t, sk.Allow(ctx, "hana", "marketing"))
		_, err = sk.Keys(ctx, ids[1:])
		assert.ErrorIs(t, err, keys.ErrErased, "Allow of one purpose lifted Forget")
		require.NoError(t, sk.Allow(ctx, "hana"))
		_, errs, err := sk.Lookup(ctx, ids)
		require.NoError(t, err)
		for i := range ids {
			assert.ErrorIs(t, errs[i], keys.ErrErased, "%v: after Allow, before a new key, the tombstone still says erased", ids[i])
		}
		fresh, err := sk.Keys(ctx, ids)
		require.NoError(t, err, "Keys after Allow")
		assert.False(t, opens(fresh[0], ct), "the key destroyed before Allow came back")
		assert.NotEqual(t, old[0].PrimaryKeyID(), fresh[0].PrimaryKeyID(), "a new key")
		assert.ErrorIs(t, fresh[0].CheckKeyID(old[0].PrimaryKeyID()), keys.ErrErased, "a value under the destroyed key reads as erased after the new key is made")
		assert.ErrorIs(t, fresh[0].CheckKeyID(old[0].PrimaryKeyID()^0x80000000), keys.ErrErased, "any other key ID of this subject and purpose: its keys but the new one are destroyed")
		// A second instance reads the same from the store.
		other := newKeys(t, store, nil)
		got, err := other.Keys(ctx, ids)
		require.NoError(t, err)
		assert.Equal(t, fresh[0].PrimaryKeyID(), got[0].PrimaryKeyID(), "the new key is stored")
		assert.ErrorIs(t, got[0].CheckKeyID(old[0].PrimaryKeyID()), keys.ErrErased, "the tombstone is stored, not only cached")
		assert.NoError(t, got[0].CheckKeyID(fresh[0].PrimaryKeyID()))

		// Withdraw, then fresh consent for that purpose: the same.
		mk := ids[1:]
		before, err := sk.Keys(ctx, mk)
		require.NoError(t, err)
		_, err = sk.Withdraw(ctx, "hana", "marketing")
		require.NoError(t, err)
		require.NoError(t, sk.Allow(ctx, "hana", "marketing"))
		after, err := sk.Keys(ctx, mk)
		require.NoError(t, err, "Keys after Allow of the purpose")
		assert.ErrorIs(t, after[0].CheckKeyID(before[0].PrimaryKeyID()), keys.ErrErased, "the withdrawn key's values read as erased")
		_, err = sk.Forget(ctx, "hana")
		require.NoError(t, err)
		_, errs, err = newKeys(t, store, nil).Lookup(ctx, mk)
		require.NoError(t, err)
		assert.ErrorIs(t, errs[0], keys.ErrErased, "a second erasure after fresh consent")
	})

	t.Run("OtherInstanceStopsWithinTTL", func(t *testing.T) {
		stores := newStores(t, 2)
		var clock atomic.Int64
		clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
		now := func() time.Time { return time.Unix(0, clock.Load()) }
		const ttl = time.Minute
		a := newKeys(t, stores[0], nil, keys.WithSubjectClock(now), keys.WithSubjectCacheTTL(ttl))
		b := newKeys(t, stores[1], nil, keys.WithSubjectClock(now), keys.WithSubjectCacheTTL(ttl))
		ids := []keys.SubjectKeyID{id("ivan", "", keys.KindAEAD)}
		_, err := b.Keys(ctx, ids) // b caches the key from now
		require.NoError(t, err)
		_, err = a.Forget(ctx, "ivan")
		require.NoError(t, err)
		_, err = a.Keys(ctx, ids)
		assert.ErrorIs(t, err, keys.ErrErased, "the erasing instance still serves the key")

		clock.Add(int64(ttl - time.Nanosecond))
		_, err = b.Keys(ctx, ids)
		assert.NoError(t, err, "within its TTL, the other instance serves its cached key (the documented bound)")
		clock.Add(int64(time.Nanosecond))
		_, err = b.Keys(ctx, ids)
		assert.ErrorIs(t, err, keys.ErrErased, "the other instance serves an erased key after its TTL")
	})

	t.Run("ForgetRacingCreate", func(t *testing.T) {
		stores := newStores(t, 3)
		for round := range 20 {
			subject := fmt.Sprintf("race-%d", round)
			makers := []*keys.SubjectKeys{newKeys(t, stores[0], nil), newKeys(t, stores[1], nil)}
			eraser := newKeys(t, stores[2], nil)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range 5 {
						_, err := makers[g%2].Keys(ctx, []keys.SubjectKeyID{id(subject, "", keys.KindAEAD), id(subject, fmt.Sprint("p", g), keys.KindAEAD)})
						if err != nil && !errors.Is(err, keys.ErrErased) {
							t.Errorf("Keys racing Forget: %v", err)
						}
					}
				}()
			}
			close(start)
			_, err := eraser.Forget(ctx, subject)
			require.NoError(t, err)
			// Every Keys that starts after Forget returned must fail, on
			// every instance, and nothing may be left stored.
			for _, sk := range append(makers, eraser) {
				_, err := sk.Keys(ctx, []keys.SubjectKeyID{id(subject, "", keys.KindAEAD)})
				if !errors.Is(err, keys.ErrErased) {
					// A maker may still hold a key it cached before
					// Forget; only its TTL bounds that, so ask the store.
					fresh := newKeys(t, stores[0], nil)
					_, err = fresh.Keys(ctx, []keys.SubjectKeyID{id(subject, "", keys.KindAEAD)})
					assert.ErrorIs(t, err, keys.ErrErased, "round %d: a key was served from the store after Forget", round)
				}
			}
			wg.Wait()
			assert.Zero(t, liveKeys(stored(t, stores[0], eraser, subject)), "round %d: key material stored after Forget and the racing creations", round)
		}
	})

	t.Run("ErasingInstanceNeverServesErasedKey", func(t *testing.T) {
		store := newStores(t, 1)[0]
		sk := newKeys(t, store, nil)
		for round := range 20 {
			subject := fmt.Sprintf("self-%d", round)
			var wg sync.WaitGroup
			var done atomic.Bool
			var afterErased atomic.Int64
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						wasDone := done.Load()
						_, err := sk.Keys(ctx, []keys.SubjectKeyID{id(subject, "", keys.KindAEAD)})
						if wasDone && err == nil {
							afterErased.Add(1)
						}
					}
				}()
			}
			_, err := sk.Forget(ctx, subject)
			require.NoError(t, err)
			done.Store(true)
			wg.Wait()
			assert.Zero(t, afterErased.Load(), "round %d: Keys started after Forget returned a key", round)
			assert.Zero(t, liveKeys(stored(t, store, sk, subject)), "round %d: key material stored after Forget", round)
		}
	})

	t.Run("StoreNeverCreatesUnderATombstone", func(t *testing.T) {
		store := newStores(t, 1)[0]
		p := func(b byte) keys.Pseudonym { var p keys.Pseudonym; p[0], p[15] = b, 0xee; return p }
		wrapped := []byte("opaque wrapped key for the store test")
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		_, _, err := store.Destroy(ctx, keys.SubjectKeyDestroy{Pseudonym: p(1), Purpose: keys.AllPurposes, Time: at})
		require.NoError(t, err)
		_, _, err = store.Destroy(ctx, keys.SubjectKeyDestroy{Pseudonym: p(2), Purpose: "marketing", Time: at})
		require.NoError(t, err)
		rows, err := store.Create(ctx, []keys.SubjectKeyRow{
			{Pseudonym: p(1), Purpose: "", Wrapped: wrapped, Created: at},
			{Pseudonym: p(2), Purpose: "marketing", Wrapped: wrapped, Created: at},
			{Pseudonym: p(2), Purpose: "", Wrapped: wrapped, Created: at},
			{Pseudonym: p(3), Purpose: "", Wrapped: wrapped, Created: at},
		})
		require.NoError(t, err)
		live := map[keys.Pseudonym]map[string]bool{}
		for _, r := range rows {
			if live[r.Pseudonym] == nil {
				live[r.Pseudonym] = map[string]bool{}
			}
			live[r.Pseudonym][r.Purpose] = r.Wrapped != nil
		}
		tests := []struct {
			name    string
			p       keys.Pseudonym
			purpose string
			want    bool
			reason  string
		}{
			{name: "forgotten subject", p: p(1), purpose: "", want: false, reason: "the subject row's erasure covers every purpose"},
			{name: "withdrawn purpose", p: p(2), purpose: "marketing", want: false},
			{name: "other purpose of a withdrawn subject", p: p(2), purpose: "", want: true},
			{name: "new subject", p: p(3), purpose: "", want: true},
		}
		for _, tt := range tests {
			assert.Equal(t, tt.want, live[tt.p][tt.purpose], "%s: Create returned a key = %v, want %v (%s)", tt.name, live[tt.p][tt.purpose], tt.want, tt.reason)
		}
		back, err := store.Load(ctx, []keys.Pseudonym{p(1), p(2), p(3)})
		require.NoError(t, err)
		assert.Equal(t, 2, liveKeys(back), "keys stored")
		for _, r := range back {
			if r.Pseudonym == p(1) && r.Purpose == keys.AllPurposes {
				assert.True(t, r.Erased.Equal(at), "subject row erased at %v, want %v", r.Erased, at)
			}
		}
		destroyed, when, err := store.Destroy(ctx, keys.SubjectKeyDestroy{Pseudonym: p(2), Purpose: keys.AllPurposes, Time: at.Add(time.Hour), CreatedBefore: at.Add(-time.Hour)})
		require.NoError(t, err)
		assert.Empty(t, destroyed, "a re-applied erasure destroyed a key created after it")
		assert.True(t, when.Equal(at.Add(time.Hour)), "erasure time %v", when)
		destroyed, _, err = store.Destroy(ctx, keys.SubjectKeyDestroy{Pseudonym: p(3), Purpose: keys.AllPurposes, Time: at.Add(time.Hour)})
		require.NoError(t, err)
		assert.Equal(t, []string{""}, destroyed)
	})

	t.Run("ConcurrentOverlappingCreates", func(t *testing.T) {
		stores := newStores(t, 2)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for round := range 5 {
			const n = 300
			rows := make([][]keys.SubjectKeyRow, 2)
			for i := range n {
				var p keys.Pseudonym
				p[0], p[1], p[2] = byte(round), byte(i>>8), byte(i)
				for g := range rows {
					rows[g] = append(rows[g], keys.SubjectKeyRow{Pseudonym: p, Wrapped: []byte(fmt.Sprint("key of ", g, " for ", i)), Created: at})
				}
			}
			slices.Reverse(rows[1]) // opposite orders, which deadlock a store that locks in the order given
			results := make([][]keys.SubjectKeyRow, 2)
			var wg sync.WaitGroup
			for g := range rows {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					results[g], err = stores[g].Create(ctx, rows[g])
					assert.NoError(t, err, "round %d: Create %d", round, g)
				}()
			}
			wg.Wait()
			keyOf := func(rs []keys.SubjectKeyRow) map[keys.Pseudonym]string {
				m := map[keys.Pseudonym]string{}
				for _, r := range rs {
					if r.Purpose == "" && r.Wrapped != nil {
						m[r.Pseudonym] = string(r.Wrapped)
					}
				}
				return m
			}
			a, b := keyOf(results[0]), keyOf(results[1])
			assert.Len(t, a, n, "round %d: keys returned to the first", round)
			assert.Equal(t, a, b, "round %d: two concurrent Creates returned different keys for one subject", round)
		}
	})

	t.Run("LoadOverlappingForgetIsNotCached", func(t *testing.T) {
		gated := &gatedStore{SubjectKeyStore: newStores(t, 1)[0]}
		ids := []keys.SubjectKeyID{id("kim", "", keys.KindAEAD)}
		_, err := newKeys(t, gated, nil).Keys(ctx, ids) // the key exists
		require.NoError(t, err)
		sk := newKeys(t, gated, nil) // and this instance has not cached it
		gated.arm()
		result := make(chan error, 1)
		go func() {
			_, err := sk.Keys(ctx, ids)
			result <- err
		}()
		<-gated.loaded // the load read the live key and waits
		_, err = sk.Forget(ctx, "kim")
		require.NoError(t, err)
		close(gated.release)
		assert.ErrorIs(t, <-result, keys.ErrErased, "a load that overlapped Forget returned the key it read before")
		_, err = sk.Keys(ctx, ids)
		assert.ErrorIs(t, err, keys.ErrErased, "a load that overlapped Forget left the erased key in the cache")
	})

	t.Run("RewrapAfterRotation", func(t *testing.T) {
		store := newStores(t, 1)[0]
		if _, ok := store.(keys.SubjectKeyRewrapper); !ok {
			t.Skipf("%T does not implement keys.SubjectKeyRewrapper", store)
		}
		prov := keys.NewMemory()
		newOwn := func() *keys.SubjectKeys {
			sk, err := keys.NewSubjectKeys(prov, store, keys.NewMemoryLedger())
			require.NoError(t, err)
			return sk
		}
		sk := newOwn()
		var ids []keys.SubjectKeyID
		for i := range 15 {
			ids = append(ids, id(fmt.Sprint("rw-", i), "", keys.KindAEAD), id(fmt.Sprint("rw-", i), "billing", keys.KindAEAD))
		}
		before, err := sk.Keys(ctx, ids)
		require.NoError(t, err)
		cts := make([][]byte, len(ids))
		for i := range ids {
			cts[i] = seal(t, before[i], "v")
		}
		_, err = sk.Forget(ctx, "rw-0")
		require.NoError(t, err)
		wrapping, err := prov.Keyset(ctx, "subject-keys", keys.KindAEAD)
		require.NoError(t, err)
		oldKey := wrapping.PrimaryKeyID()
		_, err = prov.Rotate(ctx, "subject-keys", keys.KindAEAD)
		require.NoError(t, err)

		n, err := sk.Rewrap(ctx, 7) // batches smaller than the table
		require.NoError(t, err)
		assert.Equal(t, len(ids)-2, n, "keys rewrapped (all but the forgotten subject's two)")
		again, err := sk.Rewrap(ctx, 7)
		require.NoError(t, err)
		assert.Zero(t, again, "a second Rewrap rewrapped keys already on the primary")
		require.NoError(t, prov.Disable(ctx, "subject-keys", keys.KindAEAD, oldKey))

		got, errs, err := newOwn().Lookup(ctx, ids)
		require.NoError(t, err)
		for i := range ids {
			if i < 2 {
				assert.ErrorIs(t, errs[i], keys.ErrErased, "Rewrap brought back a forgotten key")
				continue
			}
			require.NoError(t, errs[i], "item %d after rewrap and disabling the old wrapping key", i)
			assert.True(t, opens(got[i], cts[i]), "item %d: Rewrap changed the key", i)
		}
	})

	t.Run("OldWrappingKeyDisabledWithoutRewrap", func(t *testing.T) {
		store := newStores(t, 1)[0]
		prov := keys.NewMemory()
		sk, err := keys.NewSubjectKeys(prov, store, keys.NewMemoryLedger())
		require.NoError(t, err)
		ids := []keys.SubjectKeyID{id("nora", "", keys.KindAEAD)}
		_, err = sk.Keys(ctx, ids)
		require.NoError(t, err)
		wrapping, err := prov.Keyset(ctx, "subject-keys", keys.KindAEAD)
		require.NoError(t, err)
		_, err = prov.Rotate(ctx, "subject-keys", keys.KindAEAD)
		require.NoError(t, err)
		require.NoError(t, prov.Disable(ctx, "subject-keys", keys.KindAEAD, wrapping.PrimaryKeyID()))
		fresh, err := keys.NewSubjectKeys(prov, store, keys.NewMemoryLedger())
		require.NoError(t, err)
		_, _, err = fresh.Lookup(ctx, ids)
		assert.ErrorIs(t, err, keys.ErrKeyDisabled, "a key wrapped under a disabled wrapping key")
	})

	t.Run("TamperedOrMovedKeyFails", func(t *testing.T) {
		store := newStores(t, 1)[0]
		sk := newKeys(t, store, nil)
		_, err := sk.Keys(ctx, []keys.SubjectKeyID{id("olga", "", keys.KindAEAD), id("piet", "", keys.KindAEAD)})
		require.NoError(t, err)
		olga, err := sk.Pseudonym(ctx, "olga")
		require.NoError(t, err)
		rows, err := store.Load(ctx, []keys.Pseudonym{olga})
		require.NoError(t, err)
		var wrapped []byte
		for _, r := range rows {
			if r.Purpose == "" && r.Wrapped != nil {
				wrapped = r.Wrapped
			}
		}
		require.NotNil(t, wrapped, "olga's key is not stored")
		// Olga's wrapped key written for a new subject (moved), and a
		// flipped copy of it for another new one (tampered).
		flipped := append([]byte(nil), wrapped...)
		flipped[len(flipped)-1] ^= 1
		for _, tt := range []struct {
			name, subject string
			wrapped       []byte
		}{
			{name: "moved to another subject", subject: "quinn", wrapped: wrapped},
			{name: "tampered", subject: "rosa", wrapped: flipped},
		} {
			p, err := sk.Pseudonym(ctx, tt.subject)
			require.NoError(t, err)
			_, err = store.Create(ctx, []keys.SubjectKeyRow{{Pseudonym: p, Wrapped: tt.wrapped, Created: time.Now()}})
			require.NoError(t, err)
			_, _, err = sk.Lookup(ctx, []keys.SubjectKeyID{id(tt.subject, "", keys.KindAEAD)})
			assert.ErrorIs(t, err, keys.ErrWrongKEK, "%s: Lookup", tt.name)
			assert.NotErrorIs(t, err, keys.ErrErased, tt.name)
			assert.NotErrorIs(t, err, keys.ErrKeyNotFound, tt.name)
		}
	})

	t.Run("SingleFlight", func(t *testing.T) {
		counting := &countingStore{gatedStore: gatedStore{SubjectKeyStore: newStores(t, 1)[0]}}
		sk := newKeys(t, counting, nil)
		counting.arm()
		const callers = 20
		var started atomic.Int64
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started.Add(1)
				_, err := sk.Keys(ctx, []keys.SubjectKeyID{id("sam", "", keys.KindAEAD)})
				assert.NoError(t, err)
			}()
		}
		<-counting.loaded // the first caller holds the load
		for started.Load() < callers {
			runtime.Gosched()
		}
		close(counting.release)
		wg.Wait()
		assert.Equal(t, int64(1), counting.loads.Load(), "store reads for %d concurrent callers of one new key", callers)
		assert.Equal(t, int64(1), counting.creates.Load(), "store creations for %d concurrent callers of one new key", callers)
	})

	t.Run("LoadOverlappingOtherErasureIsKept", func(t *testing.T) {
		counting := &countingStore{gatedStore: gatedStore{SubjectKeyStore: newStores(t, 1)[0]}}
		ids := []keys.SubjectKeyID{id("tara", "", keys.KindAEAD)}
		_, err := newKeys(t, counting, nil).Keys(ctx, ids)
		require.NoError(t, err)
		sk := newKeys(t, counting, nil)
		counting.arm()
		before := counting.loads.Load()
		result := make(chan error, 1)
		go func() {
			_, err := sk.Keys(ctx, ids)
			result <- err
		}()
		<-counting.loaded
		_, err = sk.Forget(ctx, "someone-else")
		require.NoError(t, err)
		close(counting.release)
		require.NoError(t, <-result)
		_, err = sk.Keys(ctx, ids)
		require.NoError(t, err)
		assert.Equal(t, int64(1), counting.loads.Load()-before, "store reads: an erasure of another subject made a load start again or not be cached")
	})

	t.Run("CancelledContext", func(t *testing.T) {
		sk := newKeys(t, newStores(t, 1)[0], nil)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		ids := []keys.SubjectKeyID{id("uma", "", keys.KindAEAD)}
		_, err := sk.Keys(cancelled, ids)
		assert.ErrorIs(t, err, context.Canceled, "Keys with a cancelled context")
		_, errs, err := sk.Lookup(ctx, ids)
		require.NoError(t, err)
		assert.ErrorIs(t, errs[0], keys.ErrKeyNotFound, "Keys with a cancelled context made a key")
		_, err = sk.Withdraw(cancelled, "uma", "billing")
		assert.ErrorIs(t, err, context.Canceled, "Withdraw with a cancelled context")
		_, errs, err = sk.Lookup(ctx, []keys.SubjectKeyID{id("uma", "billing", keys.KindAEAD)})
		require.NoError(t, err)
		assert.ErrorIs(t, errs[0], keys.ErrKeyNotFound, "Withdraw with a cancelled context left a tombstone")
	})

	t.Run("EmptySubject", func(t *testing.T) {
		sk := newKeys(t, newStores(t, 1)[0], nil)
		_, err := sk.Keys(ctx, []keys.SubjectKeyID{id("", "", keys.KindAEAD)})
		assert.ErrorIs(t, err, keys.ErrInvalidSubject, "Keys")
		_, _, err = sk.Lookup(ctx, []keys.SubjectKeyID{id("", "", keys.KindAEAD)})
		assert.ErrorIs(t, err, keys.ErrInvalidSubject, "Lookup")
		_, err = sk.Forget(ctx, "")
		assert.ErrorIs(t, err, keys.ErrInvalidSubject, "Forget")
		_, err = sk.Withdraw(ctx, "", "billing")
		assert.ErrorIs(t, err, keys.ErrInvalidSubject, "Withdraw")
		assert.ErrorIs(t, sk.Allow(ctx, ""), keys.ErrInvalidSubject, "Allow")
		_, err = sk.Keys(ctx, []keys.SubjectKeyID{id("x", "", keys.KindPRF)})
		assert.ErrorIs(t, err, keys.ErrInvalidKind, "a PRF subject key")
	})

	t.Run("NoSubjectIDLeaks", func(t *testing.T) {
		const subject = "leaky.person@example.com"
		var buf strings.Builder
		rec := &AuditRecorder{}
		sk := newKeys(t, newStores(t, 1)[0], nil, keys.WithSubjectAuditor(rec))
		ids := []keys.SubjectKeyID{id(subject, "", keys.KindAEAD), id(subject, "billing", keys.KindAEAD)}
		ks, err := sk.Keys(ctx, ids)
		require.NoError(t, err)
		fmt.Fprintf(&buf, "%v %+v %#v %s %v %+v %#v ", ks[0], ks[0], ids[0], ids[1], sk, sk, sk)
		receipt, err := sk.Forget(ctx, subject)
		require.NoError(t, err)
		fmt.Fprintf(&buf, "%v %+v %s ", receipt, receipt, receipt.Pseudonym)
		_, err = sk.Keys(ctx, ids)
		require.Error(t, err)
		fmt.Fprintf(&buf, "%v ", err)
		_, errs, err := sk.Lookup(ctx, ids)
		require.NoError(t, err)
		fmt.Fprintf(&buf, "%v %v ", errs[0], errs[1])
		_, err = sk.Withdraw(ctx, subject, "NOT A PURPOSE")
		require.Error(t, err)
		fmt.Fprintf(&buf, "%v ", err)
		for _, e := range rec.Events() {
			fmt.Fprintf(&buf, "%+v ", e)
		}
		require.NotEmpty(t, rec.Events(), "Forget sent no audit event")
		assert.Equal(t, keys.EventSubjectErased, rec.Events()[0].Type)
		assert.Equal(t, receipt.Pseudonym, rec.Events()[0].Subject, "the audit event does not carry the pseudonym")
		assert.NotContains(t, buf.String(), "leaky", "a subject ID leaked")
	})

	t.Run("FailedErasureGivesNoReceipt", func(t *testing.T) {
		store := newStores(t, 1)[0]
		faulty := &faultyStore{SubjectKeyStore: store}
		ledger := &faultyLedger{Ledger: keys.NewMemoryLedger()}
		sk := newKeys(t, faulty, ledger)
		_, err := sk.Keys(ctx, []keys.SubjectKeyID{id("jo", "", keys.KindAEAD)})
		require.NoError(t, err)

		faulty.fail.Store(true)
		receipt, err := sk.Forget(ctx, "jo")
		assert.Error(t, err, "Forget during a store outage")
		assert.Zero(t, receipt, "a receipt for an erasure that failed")
		faulty.fail.Store(false)

		ledger.fail.Store(true)
		receipt, err = sk.Forget(ctx, "jo")
		assert.Error(t, err, "Forget while the ledger is down")
		assert.Zero(t, receipt, "a receipt for an erasure the ledger did not record")
		ledger.fail.Store(false)

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err = sk.Forget(cancelled, "jo")
		assert.Error(t, err, "Forget with a cancelled context")

		receipt, err = sk.Forget(ctx, "jo")
		require.NoError(t, err, "the retry")
		assert.False(t, receipt.Time.IsZero())
		assert.Zero(t, liveKeys(stored(t, store, sk, "jo")), "key material stored after the retry")
		entries, err := ledger.Since(ctx, time.Time{})
		require.NoError(t, err)
		assert.NotEmpty(t, entries, "the retried erasure is not in the ledger")
	})
}

// TestSubjectKeyRestore checks keys.SubjectKeys.ReapplyErasures over
// store, which backUp copies as a backup would and restore opens again
// from that copy: it makes keys, backs up, forgets one subject, withdraws
// a purpose of another, forgets a third and allows her again, restores the
// backup (which holds every key again), re-applies the ledger, and checks
// that the erased keys are gone again, the others are intact, the allowed
// subject may get a new key, and that re-applying twice changes nothing.
func TestSubjectKeyRestore(t *testing.T, store keys.SubjectKeyStore, backUp func(t *testing.T), restore func(t *testing.T) keys.SubjectKeyStore) {
	t.Helper()
	ctx := context.Background()
	provider := keys.NewMemory()
	ledger := keys.NewMemoryLedger()
	clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	sk, err := keys.NewSubjectKeys(provider, store, ledger, keys.WithSubjectClock(now))
	require.NoError(t, err)
	id := func(s, p string) keys.SubjectKeyID {
		return keys.SubjectKeyID{Subject: s, Purpose: p, Kind: keys.KindAEAD}
	}
	ids := []keys.SubjectKeyID{id("anna", ""), id("anna", "billing"), id("ben", ""), id("ben", "marketing"), id("cleo", ""), id("dan", "")}
	_, err = sk.Keys(ctx, ids)
	require.NoError(t, err)

	clock = clock.Add(time.Hour)
	backedUp := clock
	backUp(t)

	clock = clock.Add(time.Hour)
	_, err = sk.Forget(ctx, "anna")
	require.NoError(t, err)
	_, err = sk.Withdraw(ctx, "ben", "marketing")
	require.NoError(t, err)
	_, err = sk.Forget(ctx, "cleo")
	require.NoError(t, err)
	clock = clock.Add(time.Hour)
	require.NoError(t, sk.Allow(ctx, "cleo"))

	restored, err := keys.NewSubjectKeys(provider, restore(t), ledger, keys.WithSubjectClock(now))
	require.NoError(t, err)
	_, errs, err := restored.Lookup(ctx, ids)
	require.NoError(t, err)
	for i := range ids {
		require.NoError(t, errs[i], "%v: the restored backup must hold every key (else the test proves nothing)", ids[i])
	}

	n, err := restored.ReapplyErasures(ctx, backedUp)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "entries re-applied")
	_, errs, err = restored.Lookup(ctx, ids)
	require.NoError(t, err)
	tests := []struct {
		name   string
		want   error
		reason string
	}{
		{name: "anna base", want: keys.ErrErased},
		{name: "anna billing", want: keys.ErrErased},
		{name: "ben base", want: nil, reason: "only ben's marketing consent was withdrawn"},
		{name: "ben marketing", want: keys.ErrErased},
		{name: "cleo base", want: keys.ErrErased, reason: "cleo was forgotten, then allowed again: her old key stays destroyed, its values read as erased, and she may get a new one"},
		{name: "dan base", want: nil},
	}
	for i, tt := range tests {
		if tt.want == nil {
			assert.NoError(t, errs[i], "%s: %s", tt.name, tt.reason)
		} else {
			assert.ErrorIs(t, errs[i], tt.want, "%s: %s", tt.name, tt.reason)
		}
	}
	again, err := restored.ReapplyErasures(ctx, backedUp)
	require.NoError(t, err, "a second ReapplyErasures")
	assert.Equal(t, n, again)
	_, err = restored.Keys(ctx, []keys.SubjectKeyID{id("cleo", "")})
	assert.NoError(t, err, "cleo was allowed again")
}

var errOutage = errors.New("piitest: store outage")

// faultyStore fails Destroy while fail is set.
type faultyStore struct {
	keys.SubjectKeyStore
	fail atomic.Bool
}

func (f *faultyStore) Destroy(ctx context.Context, d keys.SubjectKeyDestroy) ([]string, time.Time, error) {
	if f.fail.Load() {
		return nil, time.Time{}, errOutage
	}
	return f.SubjectKeyStore.Destroy(ctx, d)
}

// gatedStore, once armed, holds its next Load after reading until release
// is closed, and says so on loaded.
type gatedStore struct {
	keys.SubjectKeyStore
	armed   atomic.Bool
	loaded  chan struct{}
	release chan struct{}
}

func (g *gatedStore) arm() {
	g.loaded, g.release = make(chan struct{}), make(chan struct{})
	g.armed.Store(true)
}

func (g *gatedStore) Load(ctx context.Context, ps []keys.Pseudonym) ([]keys.SubjectKeyRow, error) {
	rows, err := g.SubjectKeyStore.Load(ctx, ps)
	if g.armed.CompareAndSwap(true, false) {
		close(g.loaded)
		<-g.release
	}
	return rows, err
}

// countingStore counts Load and Create calls.
type countingStore struct {
	gatedStore
	loads, creates atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, ps []keys.Pseudonym) ([]keys.SubjectKeyRow, error) {
	c.loads.Add(1)
	return c.gatedStore.Load(ctx, ps)
}

func (c *countingStore) Create(ctx context.Context, rows []keys.SubjectKeyRow) ([]keys.SubjectKeyRow, error) {
	c.creates.Add(1)
	return c.gatedStore.Create(ctx, rows)
}

// faultyLedger fails Append while fail is set.
type faultyLedger struct {
	keys.Ledger
	fail atomic.Bool
}

func (f *faultyLedger) Append(ctx context.Context, e keys.LedgerEntry) error {
	if f.fail.Load() {
		return errOutage
	}
	return f.Ledger.Append(ctx, e)
}
