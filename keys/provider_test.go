package keys_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
)

// TestStoreKeysetSnapshot checks the lock-free lookup of Store.Keyset on
// both sides of the size at which its snapshot stops comparing names and
// hashes them: every keyset is found again as the same *Keyset without an
// allocation, and a rotation is seen by the next call.
// It is not parallel: AllocsPerRun refuses parallel tests.
func TestStoreKeysetSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 8, 9, 20} {
		t.Run(fmt.Sprintf("keysets=%d", n), func(t *testing.T) {
			s := keys.NewMemory()
			made := map[keys.KeysetID]*keys.Keyset{}
			for i := range n {
				id := keys.KeysetID{Name: fmt.Sprintf("k%d", i/3), Kind: []keys.Kind{keys.KindAEAD, keys.KindDeterministicAEAD, keys.KindPRF}[i%3]}
				ks, err := s.Keyset(ctx, id.Name, id.Kind)
				require.NoError(t, err)
				made[id] = ks
			}
			for id, want := range made {
				got, err := s.Keyset(ctx, id.Name, id.Kind)
				require.NoError(t, err)
				assert.Same(t, want, got, "Keyset(%s) after %d keysets", id, n)
				assert.Equal(t, id.Name, got.Name())
				assert.Equal(t, id.Kind, got.Kind())
			}
			// The lookup of an existing keyset is the hot path of every
			// pii call: it reads the snapshot and allocates nothing (the
			// locked path that creates keysets does).
			for id := range made {
				allocs := testing.AllocsPerRun(20, func() { _, _ = s.Keyset(ctx, id.Name, id.Kind) })
				assert.Zero(t, allocs, "Keyset(%s) allocates %v times, want 0", id, allocs)
			}
			newID, err := s.Rotate(ctx, "k0", keys.KindAEAD)
			require.NoError(t, err)
			got, err := s.Keyset(ctx, "k0", keys.KindAEAD)
			require.NoError(t, err)
			assert.Equal(t, newID, got.PrimaryKeyID(), "Keyset after Rotate = primary %d, want %d", got.PrimaryKeyID(), newID)
		})
	}
}

// TestStoreKeysetConcurrentRotate reads keysets while another goroutine
// rotates them (run with -race): every read sees a keyset whose primary is
// one the store made, never a torn or missing one.
func TestStoreKeysetConcurrentRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := keys.NewMemory()
	first, err := s.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	var mu sync.Mutex
	primaries := map[uint32]bool{first.PrimaryKeyID(): true}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20 {
			id, err := s.Rotate(ctx, "default", keys.KindAEAD)
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			primaries[id] = true
			mu.Unlock()
		}
	})
	seen := make(chan uint32, 400)
	for range 2 {
		wg.Go(func() {
			for range 200 {
				ks, err := s.Keyset(ctx, "default", keys.KindAEAD)
				if !assert.NoError(t, err) {
					return
				}
				seen <- ks.PrimaryKeyID()
			}
		})
	}
	wg.Wait()
	close(seen)
	for id := range seen {
		assert.True(t, primaries[id], "Keyset returned primary %d, which no rotation made", id)
	}
}
