package keys

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// MemorySubjectKeyStore is a [SubjectKeyStore] in memory, for tests and
// examples: its keys, and so every value they protect, are gone when the
// process exits. It is safe for concurrent use. The zero value is not
// usable; call [NewMemorySubjectKeyStore].
type MemorySubjectKeyStore struct {
	mu   sync.Mutex
	rows map[Pseudonym]map[string]SubjectKeyRow
}

var _ SubjectKeyStore = (*MemorySubjectKeyStore)(nil)

// NewMemorySubjectKeyStore returns an empty MemorySubjectKeyStore.
func NewMemorySubjectKeyStore() *MemorySubjectKeyStore {
	return &MemorySubjectKeyStore{rows: map[Pseudonym]map[string]SubjectKeyRow{}}
}

// Clone returns a copy of the store as it is now, as a backup would hold
// it; tests use it to restore an old backup.
func (m *MemorySubjectKeyStore) Clone() *MemorySubjectKeyStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemorySubjectKeyStore()
	for p, rows := range m.rows {
		c.rows[p] = maps.Clone(rows)
	}
	return c
}

// Load implements [SubjectKeyStore].
func (m *MemorySubjectKeyStore) Load(ctx context.Context, pseudonyms []Pseudonym) ([]SubjectKeyRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.load(pseudonyms), nil
}

func (m *MemorySubjectKeyStore) load(pseudonyms []Pseudonym) []SubjectKeyRow {
	var out []SubjectKeyRow
	seen := map[Pseudonym]bool{}
	for _, p := range pseudonyms {
		if seen[p] {
			continue
		}
		seen[p] = true
		for _, r := range m.rows[p] {
			out = append(out, r)
		}
	}
	return out
}

// Create implements [SubjectKeyStore].
func (m *MemorySubjectKeyStore) Create(ctx context.Context, rows []SubjectKeyRow) ([]SubjectKeyRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []Pseudonym
	for _, r := range rows {
		ps = append(ps, r.Pseudonym)
		if subj, ok := m.rows[r.Pseudonym][AllPurposes]; ok && !subj.Erased.IsZero() {
			continue
		}
		old, ok := m.rows[r.Pseudonym][r.Purpose]
		if ok && (old.Wrapped != nil || !old.Erased.IsZero()) {
			continue
		}
		r.Shredded = old.Shredded
		m.put(r)
	}
	return m.load(ps), nil
}

func (m *MemorySubjectKeyStore) put(r SubjectKeyRow) {
	if m.rows[r.Pseudonym] == nil {
		m.rows[r.Pseudonym] = map[string]SubjectKeyRow{}
	}
	m.rows[r.Pseudonym][r.Purpose] = r
}

// Destroy implements [SubjectKeyStore].
func (m *MemorySubjectKeyStore) Destroy(ctx context.Context, d SubjectKeyDestroy) ([]string, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	spared := func(r SubjectKeyRow) bool { return !d.CreatedBefore.IsZero() && r.Created.After(d.CreatedBefore) }
	var destroyed []string
	for purpose, r := range m.rows[d.Pseudonym] {
		if purpose == AllPurposes || r.Wrapped == nil || spared(r) || (d.Purpose != AllPurposes && purpose != d.Purpose) {
			continue
		}
		destroyed = append(destroyed, purpose)
		r.Wrapped = nil
		if r.Erased.IsZero() {
			r.Erased = d.Time
		}
		m.put(r)
	}
	r, ok := m.rows[d.Pseudonym][d.Purpose]
	if !ok {
		r = SubjectKeyRow{Pseudonym: d.Pseudonym, Purpose: d.Purpose, Created: d.Time}
	}
	if r.Wrapped == nil && r.Erased.IsZero() {
		r.Erased = d.Time
	}
	m.put(r)
	at := r.Erased
	if at.IsZero() {
		at = d.Time // a key newer than a re-applied erasure was kept
	}
	return destroyed, at, nil
}

// Allow implements [SubjectKeyStore].
func (m *MemorySubjectKeyStore) Allow(ctx context.Context, p Pseudonym, purpose string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range m.rows[p] {
		if r.Wrapped == nil && !r.Erased.IsZero() && (purpose == AllPurposes || name == purpose) {
			r.Shredded, r.Erased = r.Erased, time.Time{}
			m.put(r)
		}
	}
	return nil
}

// String prints the number of subjects held, never a pseudonym or a
// wrapped key, for example "keys.MemorySubjectKeyStore{3 subjects}".
func (m *MemorySubjectKeyStore) String() string {
	if m == nil {
		return "keys.MemorySubjectKeyStore{<nil>}"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("keys.MemorySubjectKeyStore{%d subjects}", len(m.rows))
}

// GoString is String.
func (m *MemorySubjectKeyStore) GoString() string { return m.String() }
