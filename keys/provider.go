package keys

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Provider hands out keysets by key name and kind. Implementations must be
// safe for concurrent use, must return the same *Keyset until the keyset
// changes (callers cache derived state by pointer), and must pass ctx on to
// any remote call (a KMS) so that the caller's deadline holds.
//
// Keyset returns [ErrKeyNotFound] for a name the provider cannot serve and
// [ErrInvalidKind] for KindUnknown.
type Provider interface {
	Keyset(ctx context.Context, name string, kind Kind) (*Keyset, error)
}

// Refresher is implemented by providers that cache keysets for a while
// (such as [SQLStore]). Refresh returns the keyset as stored now, ignoring
// the cache; callers use it when a value names a key ID that the cached
// keyset does not hold, which happens for values written by another
// instance right after it rotated. Implementations must rate-limit it, since
// such a key ID may come from a tampered value.
type Refresher interface {
	Refresh(ctx context.Context, name string, kind Kind) (*Keyset, error)
}

// KeysetID names one keyset: a key name and a kind.
type KeysetID struct {
	Name string
	Kind Kind
}

// String returns "name/kind", for example "default/aead".
func (id KeysetID) String() string { return id.Name + "/" + id.Kind.String() }

// validKeyName reports whether name is 1 to 64 characters of [a-z0-9_.-].
func validKeyName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("keys: key name must be 1 to 64 characters of a-z, 0-9, '_', '.', '-': %w", ErrKeyNotFound)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return fmt.Errorf("keys: key name %q: only a-z, 0-9, '_', '.', '-' are allowed: %w", name, ErrKeyNotFound)
		}
	}
	return nil
}

// Store keeps named keysets and runs their lifecycle: keysets are created on
// first use (by a file store only when opened with [WithCreateMissing]),
// imported and exported ([Store.Import], [Store.Export]), rotated, and their
// keys disabled, enabled and destroyed.
// [NewMemory] keeps them in memory only; [OpenFile] keeps them in an
// encrypted file. Every change is built on a copy, written to storage and
// only then published, so a failed write loses nothing and changes nothing.
// A Store is safe for concurrent use and implements [Provider].
//
// The zero Store is an empty in-memory store.
type Store struct {
	mu sync.RWMutex
	// sets holds the keysets. It is never changed in place: a change
	// replaces it, under mu, by a new map (see setSets), so that a map once
	// read stays valid; snap publishes the current one to Keyset, which
	// reads it without the lock.
	sets    map[KeysetID]*Keyset
	snap    atomic.Pointer[keysetSnapshot]
	persist func(ctx context.Context, sets map[KeysetID]*Keyset) error
	auditor Auditor
	// file follows the keyset file of a file store, which other processes
	// may change; nil for a memory store.
	file *fileWatch
}

// Keyset returns the keyset named name of the given kind, creating it with
// one fresh primary key on first use (and writing it to storage before it is
// returned). It returns [ErrInvalidKind] for KindUnknown, [ErrKeyNotFound]
// for a name outside 1 to 64 characters of [a-z0-9_.-], and the storage error
// when the new keyset could not be written. A file store opened without
// [WithCreateMissing] creates nothing: it returns [ErrKeysetNotFound].
func (r *Store) Keyset(ctx context.Context, name string, kind Kind) (*Keyset, error) {
	id := KeysetID{name, kind}
	if r.file != nil && r.file.due() {
		if err := r.reload(ctx); err != nil {
			return nil, err
		}
	}
	if ks := r.current().get(id); ks != nil {
		return ks, nil
	}
	// change validates the name and kind before it creates anything.
	return r.change(ctx, id, true, noop)
}

// keysetSnapshot is a published, immutable view of a Store's keysets.
type keysetSnapshot struct {
	sets map[KeysetID]*Keyset
	// few holds the same keysets when there are at most maxFewKeysets:
	// comparing a handful of names costs less than hashing one.
	few []fewKeyset
}

type fewKeyset struct {
	id KeysetID
	ks *Keyset
}

// maxFewKeysets is the most keysets a snapshot searches in order.
const maxFewKeysets = 8

func newKeysetSnapshot(sets map[KeysetID]*Keyset) *keysetSnapshot {
	s := &keysetSnapshot{sets: sets}
	if len(sets) <= maxFewKeysets {
		s.few = make([]fewKeyset, 0, len(sets))
		for id, ks := range sets {
			s.few = append(s.few, fewKeyset{id, ks})
		}
	}
	return s
}

// get returns keyset id, or nil.
func (s *keysetSnapshot) get(id KeysetID) *Keyset {
	if len(s.sets) > maxFewKeysets {
		return s.sets[id]
	}
	for i := range s.few {
		if f := &s.few[i]; f.id.Kind == id.Kind && f.id.Name == id.Name {
			return f.ks
		}
	}
	return nil
}

// current returns the keysets as last published, without taking the lock
// once they have been published: the hot path of Keyset, which every
// Protect, Reveal and blind index call takes.
func (r *Store) current() *keysetSnapshot {
	if s := r.snap.Load(); s != nil {
		return s
	}
	// Not published yet (a store made with its keysets, as OpenFile does):
	// publish what is there, unless a change has published since.
	r.mu.RLock()
	s := newKeysetSnapshot(r.sets)
	r.mu.RUnlock()
	if r.snap.CompareAndSwap(nil, s) {
		return s
	}
	return r.snap.Load()
}

// setSets replaces the keysets by m and publishes m to Keyset; r.mu must
// be held for writing.
func (r *Store) setSets(m map[KeysetID]*Keyset) {
	r.sets = m
	r.snap.Store(newKeysetSnapshot(m))
}

// change applies fn to the keyset id (creating it first when create is set
// and it does not exist), persists the new state and publishes it.
func (r *Store) change(ctx context.Context, id KeysetID, create bool, fn mutation) (*Keyset, error) {
	return r.commit(ctx, id, func(old *Keyset, now time.Time) (*Keyset, []Event, error) {
		if create && old == nil && r.file != nil {
			if err := r.file.missingKeyset(id); err != nil {
				return nil, nil, err
			}
		}
		return buildKeyset(id, old, create, fn, now)
	})
}

// commit replaces keyset id with what build makes of the current one (nil
// when there is none), persists the new state, publishes it and sends
// build's events. build returns errNoChange to leave the store as it is.
func (r *Store) commit(ctx context.Context, id KeysetID, build func(old *Keyset, now time.Time) (*Keyset, []Event, error)) (*Keyset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file != nil {
		// Build on the file as it is now, under the file lock: another
		// process (the tillid CLI, say) may have rotated since, and its keys
		// must not be lost.
		unlock, err := lockFile(ctx, r.file.path)
		if err != nil {
			return nil, err
		}
		defer unlock()
		fresh, changed, err := r.file.load(ctx, false)
		if err != nil {
			return nil, err
		}
		if changed {
			r.setSets(fresh)
		}
	}
	now := time.Now()
	ks, events, err := build(r.sets[id], now)
	if errors.Is(err, errNoChange) {
		return ks, nil
	}
	if err != nil {
		return nil, err
	}
	next := maps.Clone(r.sets)
	if next == nil {
		next = make(map[KeysetID]*Keyset)
	}
	next[id] = ks
	if r.persist != nil {
		if err := r.persist(ctx, next); err != nil {
			return nil, err
		}
	}
	r.setSets(next)
	audit(ctx, r.auditor, now, events...)
	return ks, nil
}

// Rotate adds a new key to the keyset name/kind and makes it the primary
// (creating the keyset first if it does not exist), and returns the new key
// ID. Values protected under older keys keep revealing while those keys stay
// enabled. It returns the storage error when the change could not be written;
// the keyset is then unchanged. A file store opened without
// [WithCreateMissing] returns [ErrKeysetNotFound] for a missing keyset.
func (r *Store) Rotate(ctx context.Context, name string, kind Kind) (uint32, error) {
	var newID uint32
	id := KeysetID{name, kind}
	_, err := r.change(ctx, id, true, rotate(id, time.Now(), &newID))
	return newID, err
}

// Disable disables key keyID of keyset name/kind: values under it no longer
// reveal (they fail with [ErrKeyDisabled]) until [Store.Enable]. The primary
// key cannot be disabled; rotate first. Disabling a disabled key does
// nothing. It returns [ErrKeyNotFound] for an unknown keyset or key ID and
// [ErrKeyDestroyed] for a destroyed key.
func (r *Store) Disable(ctx context.Context, name string, kind Kind, keyID uint32) error {
	id := KeysetID{name, kind}
	_, err := r.change(ctx, id, false, setStatus(id, keyID, false))
	return err
}

// Enable enables the disabled key keyID of keyset name/kind again. Enabling
// an enabled key does nothing. It returns [ErrKeyNotFound] for an unknown
// keyset or key ID and [ErrKeyDestroyed] for a destroyed key, which can
// never be enabled again.
func (r *Store) Enable(ctx context.Context, name string, kind Kind, keyID uint32) error {
	id := KeysetID{name, kind}
	_, err := r.change(ctx, id, false, setStatus(id, keyID, true))
	return err
}

// Destroy destroys the disabled key keyID of keyset name/kind
// (crypto-shredding): its key material is deleted from the keyset and from
// storage, and its ID is kept, so that values under it fail with
// [ErrKeyDestroyed] — unrecoverable — rather than look unknown. This cannot
// be undone. The key must be disabled first, which is the time to check
// that nothing still needs it; an enabled or primary key is refused.
// Destroying a destroyed key does nothing. It returns [ErrKeyNotFound] for
// an unknown keyset or key ID.
//
// A file store removes the temporary copies of its file that killed
// writers left (each a full copy of the keysets) before it reports
// success, also when the key was destroyed already and nothing is written,
// so that a repeated Destroy confirms no such copy holds the key. Copies of
// the keyset made before (backups of the keyset file or table) still hold
// the key; destroy those too.
func (r *Store) Destroy(ctx context.Context, name string, kind Kind, keyID uint32) error {
	id := KeysetID{name, kind}
	if _, err := r.change(ctx, id, false, destroy(id, keyID, time.Now())); err != nil {
		return err
	}
	if r.file != nil {
		return removeStaleTemps(ctx, r.file.path, true)
	}
	return nil
}

// List returns every keyset in the store, sorted by name and kind. A file
// store first reads its file again if another process changed it, and
// returns that read's error.
func (r *Store) List(ctx context.Context) ([]*Keyset, error) {
	if r.file != nil {
		if err := r.reload(ctx); err != nil {
			return nil, err
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Keyset, 0, len(r.sets))
	for _, ks := range r.sets {
		out = append(out, ks)
	}
	sortKeysets(out)
	return out, nil
}

func sortKeysets(s []*Keyset) {
	slices.SortFunc(s, func(a, b *Keyset) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return int(a.kind) - int(b.kind)
	})
}

// NewMemory returns an empty Store that keeps keysets in memory only. It is
// for tests and examples: the keys, and so every value they protected, are
// gone when the process exits. It accepts [WithAuditor]; other options
// panic, as they are programmer errors.
func NewMemory(opts ...StoreOption) *Store {
	c, err := newLocalStoreConfig(opts)
	if err != nil {
		panic(err)
	}
	return &Store{auditor: c.auditor}
}

// newLocalStoreConfig reads the options of a memory or file store.
func newLocalStoreConfig(opts []StoreOption) (storeConfig, error) {
	c, err := newStoreConfig(opts)
	if err != nil {
		return storeConfig{}, err
	}
	if c.ttlSet || c.nowSet || c.table != defaultTable {
		return storeConfig{}, fmt.Errorf("keys: WithCacheTTL, WithClock and WithTable are options of SQL stores only")
	}
	return c, nil
}

var _ Provider = (*Store)(nil)

// reload picks up changes another process made to the keyset file.
func (r *Store) reload(ctx context.Context) error {
	r.mu.Lock() // held across the read, so that a concurrent change cannot be overwritten by an older file
	defer r.mu.Unlock()
	fresh, changed, err := r.file.load(ctx, false)
	if err != nil || !changed {
		return err
	}
	r.setSets(fresh)
	return nil
}

// Refresh returns keyset name/kind after reading a file store's file again
// if another process changed it; pii calls it when a value names a key ID
// it does not know. It costs a stat of the file, and a read only when the
// file changed. For a memory store it is [Store.Keyset].
func (r *Store) Refresh(ctx context.Context, name string, kind Kind) (*Keyset, error) {
	if r.file != nil {
		if err := r.reload(ctx); err != nil {
			return nil, err
		}
	}
	return r.Keyset(ctx, name, kind)
}

var _ Refresher = (*Store)(nil)

// CheckKeyName returns nil when name is a valid key name: 1 to 64
// characters of a-z, 0-9, '_', '.' and '-'. Otherwise it returns an error
// wrapping [ErrKeyNotFound] that says the rule.
func CheckKeyName(name string) error { return validKeyName(name) }
