package keys

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/tillid/tillid/keys/internal/subjectsql"
)

// SubjectKeyRewrapper is implemented by subject-key stores whose keys
// [SubjectKeys.Rewrap] can move to the wrapping keyset's primary.
// [MemorySubjectKeyStore] and [SQLSubjectKeyStore] implement it.
type SubjectKeyRewrapper interface {
	// Scan returns up to limit rows with key material, in (pseudonym,
	// purpose) order, after the (Pseudonym, Purpose) of after; the zero
	// row starts at the beginning. Subject rows and tombstones are left
	// out.
	Scan(ctx context.Context, after SubjectKeyRow, limit int) ([]SubjectKeyRow, error)
	// Replace stores rows[i].Wrapped where the stored key material is
	// still old[i], atomically, and returns how many rows it changed: a key
	// destroyed or replaced meanwhile is left as it is.
	Replace(ctx context.Context, rows []SubjectKeyRow, old [][]byte) (int, error)
}

// DefaultRewrapBatch is the number of subject keys [SubjectKeys.Rewrap]
// reads and writes at a time unless told otherwise.
const DefaultRewrapBatch = 1000

// Rewrap wraps again, under the current primary of the wrapping keyset,
// every stored subject key wrapped under an older key of it, batch keys at
// a time (DefaultRewrapBatch when batch ≤ 0), each batch in one store
// transaction. The keys themselves do not change, so values under them
// and cached keys stay valid. Once it has run after a rotation of the
// wrapping keyset, the older wrapping keys can be disabled and destroyed,
// which makes key-store backups taken before unreadable. It sends an
// [EventRewrapProgress] per batch, returns the number of keys rewrapped
// and can be run again after an error (it skips keys already on the
// primary). It returns [ErrInvalidKind] when the store does not implement
// [SubjectKeyRewrapper], the errors of unwrapping ([ErrKeyDisabled] for a
// key wrapped under a disabled wrapping key) and the store's.
func (s *SubjectKeys) Rewrap(ctx context.Context, batch int) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	rw, ok := s.store.(SubjectKeyRewrapper)
	if !ok {
		return 0, fmt.Errorf("keys: the subject-key store %T cannot rewrap: %w", s.store, ErrInvalidKind)
	}
	if batch <= 0 {
		batch = DefaultRewrapBatch
	}
	wrap, err := s.provider.Keyset(ctx, s.cfg.wrapName, KindAEAD)
	if err != nil {
		return 0, err
	}
	primary := wrap.PrimaryKeyID()
	total := 0
	var after SubjectKeyRow
	for {
		rows, err := rw.Scan(ctx, after, batch)
		if err != nil {
			return total, fmt.Errorf("keys: reading subject keys to rewrap: %w", err)
		}
		var next []SubjectKeyRow
		var old [][]byte
		for _, r := range rows {
			if len(r.Wrapped) >= 5 && binary.BigEndian.Uint32(r.Wrapped[1:5]) == primary {
				continue
			}
			seed, err := unwrapSeed(wrap, r.Pseudonym, r.Purpose, r.Wrapped)
			if err != nil {
				return total, err
			}
			fresh, err := s.newRowFromSeed(wrap, r.Pseudonym, r.Purpose, seed)
			if err != nil {
				return total, err
			}
			old = append(old, r.Wrapped)
			r.Wrapped = fresh
			next = append(next, r)
		}
		if len(next) > 0 {
			n, err := rw.Replace(ctx, next, old)
			if err != nil {
				return total, fmt.Errorf("keys: storing rewrapped subject keys: %w", err)
			}
			total += n
			audit(ctx, s.cfg.auditor, s.cfg.now(), Event{Type: EventRewrapProgress, Keyset: KeysetID{s.cfg.wrapName, KindAEAD}, KeyID: primary, Done: int64(total), Left: -1})
		}
		if len(rows) < batch {
			return total, nil
		}
		after = rows[len(rows)-1]
	}
}

// newRowFromSeed wraps seed for (p, purpose) under wrap's primary.
func (s *SubjectKeys) newRowFromSeed(wrap *Keyset, p Pseudonym, purpose string, seed []byte) ([]byte, error) {
	a, err := wrap.AEAD()
	if err != nil {
		return nil, err
	}
	wrapped, err := a.Encrypt(seed, wrapAssociatedData(p, purpose))
	if err != nil {
		return nil, fmt.Errorf("keys: wrapping a subject key: %v", err)
	}
	return wrapped, nil
}

var _ SubjectKeyRewrapper = (*MemorySubjectKeyStore)(nil)

func compareRows(a, b SubjectKeyRow) int {
	if c := bytes.Compare(a.Pseudonym[:], b.Pseudonym[:]); c != 0 {
		return c
	}
	return strings.Compare(a.Purpose, b.Purpose)
}

// Scan implements [SubjectKeyRewrapper]. It sorts every key, which is fine
// for the sizes a memory store is for.
func (m *MemorySubjectKeyStore) Scan(ctx context.Context, after SubjectKeyRow, limit int) ([]SubjectKeyRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	start := after.Pseudonym == Pseudonym{} && after.Purpose == ""
	var all []SubjectKeyRow
	for _, rows := range m.rows {
		for _, r := range rows {
			if r.Purpose != AllPurposes && r.Wrapped != nil && (start || compareRows(r, after) > 0) {
				all = append(all, r)
			}
		}
	}
	slices.SortFunc(all, compareRows)
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// Replace implements [SubjectKeyRewrapper].
func (m *MemorySubjectKeyStore) Replace(ctx context.Context, rows []SubjectKeyRow, old [][]byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for i, r := range rows {
		cur, ok := m.rows[r.Pseudonym][r.Purpose]
		if ok && cur.Wrapped != nil && bytes.Equal(cur.Wrapped, old[i]) {
			cur.Wrapped = r.Wrapped
			m.put(cur)
			n++
		}
	}
	return n, nil
}

var _ SubjectKeyRewrapper = (*SQLSubjectKeyStore)(nil)

// Scan implements [SubjectKeyRewrapper] with one SELECT in primary-key
// order.
func (s *SQLSubjectKeyStore) Scan(ctx context.Context, after SubjectKeyRow, limit int) ([]SubjectKeyRow, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var from []byte
	if after.Pseudonym != (Pseudonym{}) || after.Purpose != "" {
		from = after.Pseudonym[:]
	}
	rows, err := s.s.Scan(ctx, from, after.Purpose, max(1, limit))
	if err != nil {
		return nil, err
	}
	return fromSQLRows(rows)
}

// Replace implements [SubjectKeyRewrapper] in one transaction, one UPDATE
// per row (a round trip each in PostgreSQL).
func (s *SQLSubjectKeyStore) Replace(ctx context.Context, rows []SubjectKeyRow, old [][]byte) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	if len(old) != len(rows) {
		return 0, fmt.Errorf("keys: Replace of %d rows with %d old keys", len(rows), len(old))
	}
	sqlRows := make([]subjectsql.Row, len(rows))
	for i, r := range rows {
		sqlRows[i] = subjectsql.Row{Pseudonym: r.Pseudonym[:], Purpose: r.Purpose, Wrapped: r.Wrapped}
	}
	return s.s.Replace(ctx, sqlRows, old)
}
