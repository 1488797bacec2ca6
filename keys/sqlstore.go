package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/sync/singleflight"
)

// SQLStore keeps keysets in one SQL table that many processes share: SQLite
// ([OpenSQLite], the embedded default) or PostgreSQL ([OpenPostgres], for
// fleets of service instances). Each keyset is one row holding Tink's JSON
// encrypted keyset, encrypted under the KEK with the associated data
// "tillid/v1/keyset/<name>/<kind>" as in [OpenFile], the key creation times
// and destroyed key IDs in clear (no key material), and a version.
//
// Changes use optimistic concurrency: a change reads the row, applies the
// change, and writes it back only if the version is still the one it read,
// else reads again and retries, so concurrent rotations by several
// processes are all kept and none is lost.
//
// Unwrapped keysets are cached in memory for the cache TTL
// ([WithCacheTTL], [DefaultCacheTTL] unless set). Within it a keyset costs
// no database query and no KEK call; when it has passed, the next use reads
// the row again (seeing changes made by other processes) and unwraps it
// again under the KEK: one KEK (KMS) call per keyset per TTL, however many
// values are protected. Concurrent requests for a keyset that is not
// cached wait for one read and one unwrap (single-flight). While the KMS is
// down, cached keysets keep working until their TTL ends; after that
// Keyset returns an error wrapping [ErrKMSUnavailable] and nothing stored
// is changed.
//
// Every KEK call is made with the caller's context, so the caller's
// deadline bounds it when the KEK implements tink.AEADWithContext (those of
// package kms do). A SQLStore is safe for concurrent use and
// implements [Provider] and [Refresher].
type SQLStore struct {
	db  sqlBackend
	kek tink.AEAD
	cfg storeConfig

	mu    sync.RWMutex
	cache map[KeysetID]*cachedKeyset

	flight  singleflight.Group
	flights sync.Map   // KeysetID → *flightState of its latest Keyset flight
	writeMu sync.Mutex // one change at a time in this process
}

type cachedKeyset struct {
	ks      *Keyset
	version int64
	expires time.Time
}

// keysetRow is one row of the keyset table.
type keysetRow struct {
	version int64
	keyset  []byte // Tink JSON encrypted keyset
	meta    []byte // keysetMeta as JSON
}

// sqlBackend is the SQL dialect of a SQLStore.
type sqlBackend interface {
	load(ctx context.Context, id KeysetID) (keysetRow, bool, error)
	// insert adds a row with version 1 and reports false when one exists.
	insert(ctx context.Context, id KeysetID, row keysetRow, now time.Time) (bool, error)
	// update replaces the row whose version is old and reports false when
	// the stored version is another.
	update(ctx context.Context, id KeysetID, row keysetRow, old int64, now time.Time) (bool, error)
	list(ctx context.Context) ([]KeysetID, error)
}

// maxChangeAttempts bounds the retries of one change that keeps meeting
// concurrent changes.
const maxChangeAttempts = 32

func newSQLStore(db sqlBackend, kek tink.AEAD, cfg storeConfig) *SQLStore {
	return &SQLStore{db: db, kek: kek, cfg: cfg, cache: map[KeysetID]*cachedKeyset{}}
}

// Keyset returns the keyset name/kind, from memory while its cache TTL
// lasts, and otherwise read from the table and unwrapped under the KEK;
// the same *Keyset is returned until the keyset changes. A keyset that does
// not exist is [ErrKeysetNotFound] (which wraps [ErrKeyNotFound]), so that a
// mistyped key name fails instead of making keys no other instance has;
// only a store opened with [WithCreateMissing] creates it, with one primary
// key, and stores it first. It returns
// [ErrInvalidKind] for KindUnknown, [ErrKeyNotFound] for an invalid name,
// [ErrKMSUnavailable] (and the context's error when ctx ended) when the KEK
// could not be called, [ErrWrongKEK] when the row does not decrypt under
// the KEK, and the database error.
func (s *SQLStore) Keyset(ctx context.Context, name string, kind Kind) (*Keyset, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}

	id := KeysetID{name, kind}
	s.mu.RLock()
	c := s.cache[id]
	s.mu.RUnlock()
	if c != nil && s.cfg.now().Before(c.expires) {
		return c.ks, nil
	}
	if err := validKeyName(name); err != nil {
		return nil, err
	}
	if _, err := kind.template(); err != nil {
		return nil, err
	}
	for {
		ch := s.flight.DoChan(id.String(), func() (any, error) {
			// A flight that ended just before this one began may have
			// published the keyset already: do not unwrap it again.
			s.mu.RLock()
			c := s.cache[id]
			s.mu.RUnlock()
			if c != nil && s.cfg.now().Before(c.expires) {
				return c.ks, nil
			}
			st := &flightState{}
			s.flights.Store(id, st)
			return s.refresh(context.WithValue(ctx, flightKey{}, st), id)
		})
		select {
		case r := <-ch:
			if r.Err != nil && ctx.Err() == nil && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				// The context of the request that did the work ended, not
				// ours: try again with ours.
				continue
			}
			if r.Err != nil {
				return nil, r.Err
			}
			return r.Val.(*Keyset), nil
		case <-ctx.Done():
			// The flight may be waiting for the KEK or for the database:
			// say which, so that a hanging KMS is ErrKMSUnavailable here as
			// on every other path.
			if st, ok := s.flights.Load(id); ok && st.(*flightState).inKEK.Load() {
				return nil, fmt.Errorf("keys: reading keyset %s: waiting for the KEK (KMS): %w: %w", id, ErrKMSUnavailable, ctx.Err())
			}
			return nil, fmt.Errorf("keys: reading keyset %s from table %s: %w", id, s.cfg.table, ctx.Err())
		}
	}
}

// flightState is what the flight reading a keyset is doing, for callers
// whose context ends while they wait for it.
type flightState struct {
	inKEK atomic.Bool // calling the KEK, or failed in that call
}

// flightKey is the context key of a flight's *flightState.
type flightKey struct{}

// kekPhase marks, for a caller waiting on the flight of ctx (if any), that
// a KEK call starts (true) or ended well (false).
func kekPhase(ctx context.Context, in bool) {
	if st, ok := ctx.Value(flightKey{}).(*flightState); ok {
		st.inKEK.Store(in)
	}
}

// ready refuses a nil or zero SQLStore (one not made by OpenSQLite or
// OpenPostgres) and a nil context, which would otherwise crash in a
// background goroutine.
func (s *SQLStore) ready(ctx context.Context) error {
	if s == nil || s.db == nil || s.kek == nil {
		return fmt.Errorf("keys: SQLStore not opened; use OpenSQLite or OpenPostgres: %w", ErrKeyNotFound)
	}
	if ctx == nil {
		return errors.New("keys: nil context; pass context.Background()")
	}
	return nil
}

// minRefreshInterval bounds how often Refresh reads one keyset, so that
// values naming unknown key IDs (tampered or foreign ciphertexts) cannot
// turn into a flood of database reads and KMS calls.
const minRefreshInterval = time.Second

// Refresh returns keyset name/kind as stored now, ignoring the cache TTL:
// pii calls it when a value names a key ID its cached keyset does not hold,
// which happens when another instance rotated the keyset less than one TTL
// ago. It reads the row at most once per second per keyset, and calls the
// KEK only when the row changed. It returns the errors of [SQLStore.Keyset].
func (s *SQLStore) Refresh(ctx context.Context, name string, kind Kind) (*Keyset, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}

	id := KeysetID{name, kind}
	s.mu.RLock()
	c := s.cache[id]
	s.mu.RUnlock()
	if c == nil {
		return s.Keyset(ctx, name, kind)
	}
	if s.cfg.now().Before(c.expires.Add(minRefreshInterval - s.cfg.ttl)) {
		return c.ks, nil // loaded less than a second ago
	}
	v, err, _ := s.flight.Do("refresh:"+id.String(), func() (any, error) {
		row, found, err := s.db.load(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("keys: reading keyset %s from table %s: %w", id, s.cfg.table, err)
		}
		if !found {
			return nil, fmt.Errorf("keys: keyset %s: %w", id, ErrKeyNotFound)
		}
		if row.version == c.version {
			s.publish(id, c.ks, row.version) // unchanged: restart the TTL, no KMS call
			return c.ks, nil
		}
		ks, err := s.open(ctx, id, row, c)
		if err != nil {
			return nil, err
		}
		s.publish(id, ks, row.version)
		return ks, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Keyset), nil
}

// refresh reads keyset id from the table, unwraps it and caches it, or,
// when the table has no such row, creates it with [WithCreateMissing] and
// returns [ErrKeysetNotFound] without.
func (s *SQLStore) refresh(ctx context.Context, id KeysetID) (*Keyset, error) {
	row, found, err := s.db.load(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("keys: reading keyset %s from table %s: %w", id, s.cfg.table, err)
	}
	if !found {
		if !s.cfg.createMissing {
			return nil, s.missingKeyset(id)
		}
		return s.change(ctx, id, true, noop)
	}
	s.mu.RLock()
	prev := s.cache[id]
	s.mu.RUnlock()
	ks, err := s.open(ctx, id, row, prev)
	if err != nil {
		return nil, err
	}
	s.publish(id, ks, row.version)
	return ks, nil
}

// open unwraps row under the KEK, always (the unwrap is what proves the
// KEK still serves this process), and returns prev's keyset when the row
// has not changed since, so that callers keep their derived state.
func (s *SQLStore) open(ctx context.Context, id KeysetID, row keysetRow, prev *cachedKeyset) (*Keyset, error) {
	kekPhase(ctx, true)
	h, err := unwrapKeyset(ctx, s.kek, id, row.keyset)
	if err != nil {
		audit(ctx, s.cfg.auditor, s.cfg.now(), Event{Type: EventKMSFailure, Keyset: id, Err: err})
		return nil, err
	}
	kekPhase(ctx, false)
	if prev != nil && prev.version == row.version {
		return prev.ks, nil
	}
	var meta keysetMeta
	if len(row.meta) > 0 {
		if err := json.Unmarshal(row.meta, &meta); err != nil {
			return nil, fmt.Errorf("keys: keyset %s: malformed metadata: %v", id, err)
		}
	}
	return newKeyset(id.Name, id.Kind, h, meta)
}

func (s *SQLStore) publish(id KeysetID, ks *Keyset, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cache[id]; c != nil && c.version > version {
		return // a newer version was published meanwhile
	}
	s.cache[id] = &cachedKeyset{ks: ks, version: version, expires: s.cfg.now().Add(s.cfg.ttl)}
}

// change applies fn to keyset id with optimistic concurrency: read the row,
// apply fn, write it back if its version has not moved, else retry. A
// missing keyset is created when create is set and is [ErrKeysetNotFound]
// otherwise.
func (s *SQLStore) change(ctx context.Context, id KeysetID, create bool, fn mutation) (*Keyset, error) {
	return s.commit(ctx, id, func(old *Keyset, now time.Time) (*Keyset, []Event, error) {
		if old == nil && !create {
			return nil, nil, s.missingKeyset(id)
		}
		return buildKeyset(id, old, create, fn, now)
	})
}

// commit replaces keyset id with what build makes of the stored one (nil
// when the table has none), with optimistic concurrency: it reads the row,
// calls build, and writes the result back only if the row's version has not
// moved, else reads again and calls build again. It publishes the new
// keyset and sends build's events once the row is written. build returns
// errNoChange to leave the row as it is.
func (s *SQLStore) commit(ctx context.Context, id KeysetID, build func(old *Keyset, now time.Time) (*Keyset, []Event, error)) (*Keyset, error) {
	if err := validKeyName(id.Name); err != nil {
		return nil, err
	}
	if _, err := id.Kind.template(); err != nil {
		return nil, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for range maxChangeAttempts {
		row, found, err := s.db.load(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("keys: reading keyset %s from table %s: %w", id, s.cfg.table, err)
		}
		var old *Keyset
		if found {
			s.mu.RLock()
			prev := s.cache[id]
			s.mu.RUnlock()
			if old, err = s.open(ctx, id, row, prev); err != nil {
				return nil, err
			}
		}
		now := s.cfg.now()
		ks, events, err := build(old, now)
		if errors.Is(err, errNoChange) {
			if old != nil {
				s.publish(id, old, row.version)
			}
			return ks, nil
		}
		if err != nil {
			return nil, err
		}
		kekPhase(ctx, true)
		raw, err := wrapKeyset(ctx, s.kek, id, ks.handle)
		if err != nil {
			audit(ctx, s.cfg.auditor, now, Event{Type: EventKMSFailure, Keyset: id, Err: err})
			return nil, err
		}
		kekPhase(ctx, false)
		meta, err := json.Marshal(ks.meta)
		if err != nil {
			return nil, fmt.Errorf("keys: keyset %s: %v", id, err)
		}
		next := keysetRow{version: row.version + 1, keyset: raw, meta: meta}
		var ok bool
		if found {
			ok, err = s.db.update(ctx, id, next, row.version, now)
		} else {
			next.version = 1
			ok, err = s.db.insert(ctx, id, next, now)
		}
		if err != nil {
			return nil, fmt.Errorf("keys: writing keyset %s to table %s: %w", id, s.cfg.table, err)
		}
		if !ok {
			continue // another process changed the keyset: start again from its version
		}
		s.publish(id, ks, next.version)
		audit(ctx, s.cfg.auditor, now, events...)
		return ks, nil
	}
	return nil, fmt.Errorf("keys: keyset %s: %d attempts met concurrent changes; try again", id, maxChangeAttempts)
}

// Rotate adds a new key to the keyset name/kind and makes it the primary,
// and returns the new key ID. A keyset that does not exist is
// [ErrKeysetNotFound], unless the store was opened with
// [WithCreateMissing]: then it is created first. A rotation by another process at the same time is kept too. Other
// processes use the new key within their cache TTL; until then they keep
// protecting under the old primary, and values under either key reveal
// everywhere once the TTL has passed. It returns the errors of
// [SQLStore.Keyset]; the stored keyset is then unchanged.
func (s *SQLStore) Rotate(ctx context.Context, name string, kind Kind) (uint32, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}

	var newID uint32
	id := KeysetID{name, kind}
	_, err := s.change(ctx, id, s.cfg.createMissing, rotate(id, s.cfg.now(), &newID))
	return newID, err
}

// missingKeyset is the error for keyset id, which the table does not hold
// and the store may not create.
func (s *SQLStore) missingKeyset(id KeysetID) error {
	return fmt.Errorf("keys: keyset table %s has no keyset %s (check the key name and kind; tillid keys create makes one): %w", s.cfg.table, id, ErrKeysetNotFound)
}

// Disable disables key keyID of keyset name/kind, as [Store.Disable] does.
// Other processes see it within their cache TTL.
func (s *SQLStore) Disable(ctx context.Context, name string, kind Kind, keyID uint32) error {
	id := KeysetID{name, kind}
	return s.mutate(ctx, id, func() mutation { return setStatus(id, keyID, false) })
}

// Enable enables the disabled key keyID of keyset name/kind again, as
// [Store.Enable] does. Other processes see it within their cache TTL.
func (s *SQLStore) Enable(ctx context.Context, name string, kind Kind, keyID uint32) error {
	id := KeysetID{name, kind}
	return s.mutate(ctx, id, func() mutation { return setStatus(id, keyID, true) })
}

// Destroy destroys the disabled key keyID of keyset name/kind, as
// [Store.Destroy] does: its material is deleted from the row, its ID kept.
// Other processes drop it from memory within their cache TTL. Database
// backups taken before still hold it.
func (s *SQLStore) Destroy(ctx context.Context, name string, kind Kind, keyID uint32) error {
	id := KeysetID{name, kind}
	return s.mutate(ctx, id, func() mutation { return destroy(id, keyID, s.cfg.now()) })
}

// mutate applies a status change, built once the store is known to be
// ready, to an existing keyset.
func (s *SQLStore) mutate(ctx context.Context, id KeysetID, fn func() mutation) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	_, err := s.change(ctx, id, false, fn())
	return err
}

// List returns every keyset in the table, sorted by name and kind, through
// the cache as [SQLStore.Keyset] does.
func (s *SQLStore) List(ctx context.Context) ([]*Keyset, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}

	ids, err := s.db.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: listing keysets in table %s: %w", s.cfg.table, err)
	}
	out := make([]*Keyset, 0, len(ids))
	for _, id := range ids {
		ks, err := s.Keyset(ctx, id.Name, id.Kind)
		if err != nil {
			return nil, err
		}
		out = append(out, ks)
	}
	sortKeysets(out)
	return out, nil
}

var _ Provider = (*SQLStore)(nil)

var _ Refresher = (*SQLStore)(nil)
