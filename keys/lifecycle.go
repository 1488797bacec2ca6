package keys

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

// keysetMeta is what a store keeps beside each Tink keyset: when each key
// was made, and which keys were destroyed and when. Tink's keyset.Manager can
// only delete a key, which would make values under it look like values under
// a key that never existed (ErrKeyNotFound); the destroyed IDs let them read
// as ErrKeyDestroyed instead. It holds key IDs and times, never key material,
// and stores keep it in clear beside the encrypted keyset.
type keysetMeta struct {
	Created   map[uint32]time.Time `json:"created,omitempty"`
	Destroyed map[uint32]time.Time `json:"destroyed,omitempty"`
}

func (m keysetMeta) clone() keysetMeta {
	return keysetMeta{Created: maps.Clone(m.Created), Destroyed: maps.Clone(m.Destroyed)}
}

// errNoChange, returned by a mutation, means the keyset is already as asked:
// nothing is written and the current snapshot is returned.
var errNoChange = errors.New("keys: no change")

// mutation changes one keyset. m holds its keys (for a new keyset, the first
// key is already there and primary), meta its metadata, and old the current
// snapshot, nil for a keyset being created. It returns the event to report.
type mutation func(m *keyset.Manager, meta *keysetMeta, old *Keyset) (Event, error)

// buildKeyset applies fn to old (or to a new keyset of id when old is nil
// and create is set) and returns the new snapshot and fn's event. It touches
// no storage. It returns errNoChange when fn did.
func buildKeyset(id KeysetID, old *Keyset, create bool, fn mutation, now time.Time) (*Keyset, []Event, error) {
	if err := validKeyName(id.Name); err != nil {
		return nil, nil, err
	}
	if _, err := id.Kind.template(); err != nil {
		return nil, nil, err
	}
	var (
		m      *keyset.Manager
		meta   keysetMeta
		events []Event
	)
	switch {
	case old != nil:
		m = keyset.NewManagerFromHandle(old.handle)
		meta = old.meta.clone()
	case create:
		m = keyset.NewManager()
		keyID, err := addKey(m, &meta, id, now)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, Event{Type: EventKeysetCreated, Keyset: id, KeyID: keyID})
	default:
		return nil, nil, fmt.Errorf("keys: keyset %s: %w", id, ErrKeyNotFound)
	}
	ev, err := fn(m, &meta, old)
	if err != nil {
		if errors.Is(err, errNoChange) && old != nil {
			return old, nil, errNoChange
		}
		if !errors.Is(err, errNoChange) {
			return nil, nil, err
		}
	}
	if ev.Type != EventUnknown {
		ev.Keyset = id
		events = append(events, ev)
	}
	h, err := m.Handle()
	if err != nil {
		return nil, nil, fmt.Errorf("keys: keyset %s: %v", id, err)
	}
	ks, err := newKeyset(id.Name, id.Kind, h, meta)
	if err != nil {
		return nil, nil, err
	}
	return ks, events, nil
}

// addKey adds a fresh key of id's kind to m, makes it primary and records
// its creation time. A new ID never reuses the ID of a destroyed key, so
// that values under the destroyed key keep reading as destroyed.
func addKey(m *keyset.Manager, meta *keysetMeta, id KeysetID, now time.Time) (uint32, error) {
	tmpl, err := id.Kind.template()
	if err != nil {
		return 0, err
	}
	for range 8 {
		keyID, err := m.Add(tmpl)
		if err != nil {
			return 0, fmt.Errorf("keys: adding a key to %s: %v", id, err)
		}
		if _, taken := meta.Destroyed[keyID]; taken {
			if err := m.Delete(keyID); err != nil {
				return 0, fmt.Errorf("keys: adding a key to %s: %v", id, err)
			}
			continue
		}
		if err := m.SetPrimary(keyID); err != nil {
			return 0, fmt.Errorf("keys: adding a key to %s: %v", id, err)
		}
		if meta.Created == nil {
			meta.Created = map[uint32]time.Time{}
		}
		meta.Created[keyID] = now.UTC()
		return keyID, nil
	}
	return 0, fmt.Errorf("keys: adding a key to %s: no free key ID", id)
}

// noop is the mutation of Keyset: create the keyset if it is missing, and
// change nothing if it exists.
func noop(_ *keyset.Manager, _ *keysetMeta, old *Keyset) (Event, error) {
	if old != nil {
		return Event{}, errNoChange
	}
	return Event{}, nil
}

// rotate adds a key and makes it primary, storing its ID in *newID.
func rotate(id KeysetID, now time.Time, newID *uint32) mutation {
	return func(m *keyset.Manager, meta *keysetMeta, _ *Keyset) (Event, error) {
		keyID, err := addKey(m, meta, id, now)
		if err != nil {
			return Event{}, err
		}
		*newID = keyID
		return Event{Type: EventKeyRotated, KeyID: keyID}, nil
	}
}

// setStatus enables or disables key keyID.
func setStatus(id KeysetID, keyID uint32, enable bool) mutation {
	return func(m *keyset.Manager, _ *keysetMeta, ks *Keyset) (Event, error) {
		st, ok := ks.Status(keyID)
		switch {
		case !ok:
			return Event{}, fmt.Errorf("keys: keyset %s has no key %d: %w", id, keyID, ErrKeyNotFound)
		case st == keyset.Destroyed:
			return Event{}, fmt.Errorf("keys: keyset %s key %d: %w", id, keyID, ErrKeyDestroyed)
		case enable && st == keyset.Enabled, !enable && st == keyset.Disabled:
			return Event{}, errNoChange
		case !enable && ks.PrimaryKeyID() == keyID:
			return Event{}, fmt.Errorf("keys: keyset %s: key %d is the primary; rotate before disabling it", id, keyID)
		}
		var err error
		ev := Event{KeyID: keyID}
		if enable {
			err = m.Enable(keyID)
			ev.Type = EventKeyEnabled
		} else {
			err = m.Disable(keyID)
			ev.Type = EventKeyDisabled
		}
		if err != nil {
			return Event{}, fmt.Errorf("keys: keyset %s key %d: %v", id, keyID, err)
		}
		return ev, nil
	}
}

// destroy deletes the material of the disabled key keyID and records its ID
// as destroyed.
func destroy(id KeysetID, keyID uint32, now time.Time) mutation {
	return func(m *keyset.Manager, meta *keysetMeta, ks *Keyset) (Event, error) {
		st, ok := ks.Status(keyID)
		switch {
		case !ok:
			return Event{}, fmt.Errorf("keys: keyset %s has no key %d: %w", id, keyID, ErrKeyNotFound)
		case st == keyset.Destroyed:
			return Event{}, errNoChange
		case st != keyset.Disabled:
			return Event{}, fmt.Errorf("keys: keyset %s key %d is %v; disable it (and check that nothing breaks) before destroying it", id, keyID, st)
		}
		if err := m.Delete(keyID); err != nil {
			return Event{}, fmt.Errorf("keys: keyset %s key %d: %v", id, keyID, err)
		}
		if meta.Destroyed == nil {
			meta.Destroyed = map[uint32]time.Time{}
		}
		meta.Destroyed[keyID] = now.UTC()
		return Event{Type: EventKeyDestroyed, KeyID: keyID}, nil
	}
}
