package keys

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/keyset"
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
// first use, rotated, and their keys disabled and enabled. [NewMemory] keeps
// them in memory only; [OpenFile] keeps them in an encrypted file. Every
// change is built on a copy, written to storage and only then published, so a
// failed write loses nothing and changes nothing. A Store is safe for
// concurrent use and implements [Provider].
//
// The zero Store is an empty in-memory store.
type Store struct {
	mu      sync.RWMutex
	sets    map[KeysetID]*Keyset
	persist func(ctx context.Context, sets map[KeysetID]*keyset.Handle) error
}

// Keyset returns the keyset named name of the given kind, creating it with
// one fresh primary key on first use (and writing it to storage before it is
// returned). It returns [ErrInvalidKind] for KindUnknown, [ErrKeyNotFound]
// for a name outside 1 to 64 characters of [a-z0-9_.-], and the storage error
// when the new keyset could not be written.
func (r *Store) Keyset(ctx context.Context, name string, kind Kind) (*Keyset, error) {
	id := KeysetID{name, kind}
	r.mu.RLock()
	ks := r.sets[id]
	r.mu.RUnlock()
	if ks != nil {
		return ks, nil
	}
	// change validates the name and kind before it creates anything.
	return r.change(ctx, id, true, func(*keyset.Manager, *Keyset) error { return nil })
}

// change applies fn to the keyset id (creating it first when create is set
// and it does not exist), persists the new state and publishes it.
func (r *Store) change(ctx context.Context, id KeysetID, create bool, fn func(m *keyset.Manager, old *Keyset) error) (*Keyset, error) {
	if err := validKeyName(id.Name); err != nil {
		return nil, err
	}
	tmpl, err := id.Kind.template()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.sets[id]
	var m *keyset.Manager
	switch {
	case old != nil:
		m = keyset.NewManagerFromHandle(old.handle)
	case create:
		m = keyset.NewManager()
		keyID, err := m.Add(tmpl)
		if err != nil {
			return nil, fmt.Errorf("keys: creating keyset %s: %v", id, err)
		}
		if err := m.SetPrimary(keyID); err != nil {
			return nil, fmt.Errorf("keys: creating keyset %s: %v", id, err)
		}
	default:
		return nil, fmt.Errorf("keys: keyset %s: %w", id, ErrKeyNotFound)
	}
	if err := fn(m, old); err != nil {
		return nil, err
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("keys: keyset %s: %v", id, err)
	}
	ks, err := NewKeyset(id.Name, id.Kind, h)
	if err != nil {
		return nil, err
	}
	if r.persist != nil {
		handles := make(map[KeysetID]*keyset.Handle, len(r.sets)+1)
		for k, v := range r.sets {
			handles[k] = v.handle
		}
		handles[id] = h
		if err := r.persist(ctx, handles); err != nil {
			return nil, err
		}
	}
	next := maps.Clone(r.sets)
	if next == nil {
		next = make(map[KeysetID]*Keyset)
	}
	next[id] = ks
	r.sets = next
	return ks, nil
}

// Rotate adds a new key to the keyset name/kind and makes it the primary
// (creating the keyset first if it does not exist), and returns the new key
// ID. Values protected under older keys keep revealing while those keys stay
// enabled. It returns the storage error when the change could not be written;
// the keyset is then unchanged.
func (r *Store) Rotate(ctx context.Context, name string, kind Kind) (uint32, error) {
	var newID uint32
	tmpl, err := kind.template()
	if err != nil {
		return 0, err
	}
	_, err = r.change(ctx, KeysetID{name, kind}, true, func(m *keyset.Manager, _ *Keyset) error {
		id, err := m.Add(tmpl)
		if err != nil {
			return fmt.Errorf("keys: rotating %s/%s: %v", name, kind, err)
		}
		newID = id
		if err := m.SetPrimary(id); err != nil {
			return fmt.Errorf("keys: rotating %s/%s: %v", name, kind, err)
		}
		return nil
	})
	return newID, err
}

// Disable disables key keyID of keyset name/kind: values under it no longer
// reveal (they fail with [ErrKeyDisabled]) until [Store.Enable]. The primary
// key cannot be disabled; rotate first. It returns [ErrKeyNotFound] for an
// unknown keyset or key ID.
func (r *Store) Disable(ctx context.Context, name string, kind Kind, keyID uint32) error {
	return r.setStatus(ctx, name, kind, keyID, false)
}

// Enable enables the disabled key keyID of keyset name/kind again. It returns
// [ErrKeyNotFound] for an unknown keyset or key ID.
func (r *Store) Enable(ctx context.Context, name string, kind Kind, keyID uint32) error {
	return r.setStatus(ctx, name, kind, keyID, true)
}

func (r *Store) setStatus(ctx context.Context, name string, kind Kind, keyID uint32, enable bool) error {
	_, err := r.change(ctx, KeysetID{name, kind}, false, func(m *keyset.Manager, ks *Keyset) error {
		if _, ok := ks.Status(keyID); !ok {
			return fmt.Errorf("keys: keyset %s/%s has no key %d: %w", name, kind, keyID, ErrKeyNotFound)
		}
		if !enable && ks.PrimaryKeyID() == keyID {
			return fmt.Errorf("keys: keyset %s/%s: key %d is the primary; rotate before disabling it", name, kind, keyID)
		}
		var err error
		if enable {
			err = m.Enable(keyID)
		} else {
			err = m.Disable(keyID)
		}
		if err != nil {
			return fmt.Errorf("keys: keyset %s/%s key %d: %v", name, kind, keyID, err)
		}
		return nil
	})
	return err
}

// List returns every keyset in the store, sorted by name and kind.
func (r *Store) List() []*Keyset {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Keyset, 0, len(r.sets))
	for _, ks := range r.sets {
		out = append(out, ks)
	}
	sortKeysets(out)
	return out
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
// gone when the process exits.
func NewMemory() *Store { return &Store{} }

var _ Provider = (*Store)(nil)

// CheckKeyName returns nil when name is a valid key name: 1 to 64
// characters of a-z, 0-9, '_', '.' and '-'. Otherwise it returns an error
// wrapping [ErrKeyNotFound] that says the rule.
func CheckKeyName(name string) error { return validKeyName(name) }
