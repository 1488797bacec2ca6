package tokenize

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A Store is a token vault: it keeps, per domain, token -> [Entry]. Entries
// hold AEAD ciphertexts and keyed PRFs, never a plaintext value or subject.
// [NewMemoryStore] and [OpenSQLite] are the stores of this package;
// package postgres of the module github.com/tillid/tillid/stores is the
// PostgreSQL one. A Store must be safe for concurrent use, and a store
// shared by several processes must keep its guarantees across them: tokens
// are unique per domain, and so are non-nil Index values among live entries.
//
// Every method returns the storage error, not wrapped in a sentinel, when
// the backend fails; that error must not carry values, tokens or
// ciphertexts.
type Store interface {
	// Put stores every entry of entries in domain, or none of them, and
	// returns, for each entry, the token that now stands for it:
	//
	//   - entries[i].Token, when the entry was stored;
	//   - the token of the live entry that already has entries[i].Index,
	//     when Index is non-nil and one exists (nothing is stored for it);
	//   - "", when entries[i].Token is taken by another entry.
	//
	// When any result is "", Put stores nothing at all; the caller retries
	// with new tokens for those entries. A store that cannot tell which
	// token was taken may report "" for every entry it did not resolve
	// through its index. An entry that expired at or before
	// now never counts as existing: Put replaces it. The entries of one call
	// have distinct tokens and distinct non-nil indexes.
	Put(ctx context.Context, domain string, entries []Entry, now time.Time) ([]string, error)
	// Get returns, for each token, its entry in domain, or the zero Entry
	// (with an empty Token) when there is no entry or it expired at or
	// before now.
	Get(ctx context.Context, domain string, tokens []string, now time.Time) ([]Entry, error)
	// Delete removes every entry of domain that matches any non-empty field
	// of sel, expired or not, and returns how many it removed.
	Delete(ctx context.Context, domain string, sel Selection) (int64, error)
}

// An Entry is what a [Store] keeps for one token.
type Entry struct {
	// Token is the token, at most [MaxTokenSize] bytes.
	Token string
	// Ciphertext is the value under the domain's AEAD key, with associated
	// data that binds it to the domain and the token: a Tink ciphertext, a
	// 5-byte key prefix, then a 12-byte nonce, the encrypted value and a
	// 16-byte tag.
	Ciphertext []byte
	// Index is the consistent-mode lookup key: a 4-byte PRF key ID then a
	// 16-byte keyed PRF of the subject and value. It is nil in random mode.
	Index []byte
	// Subject is the 4-byte PRF key ID then a 16-byte keyed PRF of the data
	// subject, or nil when the token has no subject.
	Subject []byte
	// ExpiresAt is when the token expires; the zero Time means never.
	ExpiresAt time.Time
}

// A Selection picks the entries [Store.Delete] removes: those whose token is
// in Tokens, whose subject is in Subjects, or that expired at or before
// ExpiredAt when it is not the zero Time.
type Selection struct {
	Tokens    []string
	Subjects  [][]byte
	ExpiredAt time.Time
}

// expired reports whether an entry expiring at exp is expired at now.
func expired(exp, now time.Time) bool { return !exp.IsZero() && !exp.After(now) }

// MemoryStore is a [Store] that keeps entries in memory: for tests,
// examples and caches that may forget. Every token is lost when the process
// exits. It is safe for concurrent use; the zero MemoryStore is not, use
// [NewMemoryStore].
type MemoryStore struct {
	mu      sync.Mutex
	domains map[string]*memoryDomain
}

type memoryDomain struct {
	byToken map[string]Entry
	byIndex map[string]string // string(Index) -> token
}

// NewMemoryStore returns an empty in-memory [Store].
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{domains: make(map[string]*memoryDomain)}
}

func (s *MemoryStore) domain(name string) *memoryDomain {
	d := s.domains[name]
	if d == nil {
		d = &memoryDomain{byToken: make(map[string]Entry), byIndex: make(map[string]string)}
		s.domains[name] = d
	}
	return d
}

// Put implements [Store.Put]. It copies the entries.
func (s *MemoryStore) Put(ctx context.Context, domain string, entries []Entry, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domain(domain)
	out := make([]string, len(entries))
	collided := false
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		if seen[e.Token] {
			return nil, fmt.Errorf("tokenize: Put given token %d twice", i)
		}
		seen[e.Token] = true
		if e.Index != nil {
			if tok, ok := d.byIndex[string(e.Index)]; ok && !expired(d.byToken[tok].ExpiresAt, now) {
				out[i] = tok
				continue
			}
		}
		if old, ok := d.byToken[e.Token]; ok && !expired(old.ExpiresAt, now) {
			collided = true
			continue
		}
		out[i] = e.Token
	}
	if collided {
		// Nothing is stored; the results still say which tokens were taken
		// and which indexes exist.
		return out, nil
	}
	for i, e := range entries {
		if out[i] != e.Token {
			continue
		}
		if old, ok := d.byToken[e.Token]; ok {
			d.remove(old)
		}
		if e.Index != nil {
			if tok, ok := d.byIndex[string(e.Index)]; ok {
				d.remove(d.byToken[tok])
			}
		}
		e.Ciphertext = append([]byte(nil), e.Ciphertext...)
		e.Index = append([]byte(nil), e.Index...)
		if len(e.Index) == 0 {
			e.Index = nil
		}
		e.Subject = append([]byte(nil), e.Subject...)
		if len(e.Subject) == 0 {
			e.Subject = nil
		}
		d.byToken[e.Token] = e
		if e.Index != nil {
			d.byIndex[string(e.Index)] = e.Token
		}
	}
	return out, nil
}

func (d *memoryDomain) remove(e Entry) {
	delete(d.byToken, e.Token)
	if e.Index != nil && d.byIndex[string(e.Index)] == e.Token {
		delete(d.byIndex, string(e.Index))
	}
}

// Get implements [Store.Get]. The entries returned share no memory with the
// store.
func (s *MemoryStore) Get(ctx context.Context, domain string, tokens []string, now time.Time) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domain(domain)
	out := make([]Entry, len(tokens))
	for i, tok := range tokens {
		e, ok := d.byToken[tok]
		if !ok || expired(e.ExpiresAt, now) {
			continue
		}
		e.Ciphertext = append([]byte(nil), e.Ciphertext...)
		out[i] = e
	}
	return out, nil
}

// Delete implements [Store.Delete].
func (s *MemoryStore) Delete(ctx context.Context, domain string, sel Selection) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domain(domain)
	var n int64
	for _, tok := range sel.Tokens {
		if e, ok := d.byToken[tok]; ok {
			d.remove(e)
			n++
		}
	}
	if len(sel.Subjects) == 0 && sel.ExpiredAt.IsZero() {
		return n, nil
	}
	subjects := make(map[string]bool, len(sel.Subjects))
	for _, sub := range sel.Subjects {
		subjects[string(sub)] = true
	}
	for _, e := range d.byToken {
		if (e.Subject != nil && subjects[string(e.Subject)]) || (!sel.ExpiredAt.IsZero() && expired(e.ExpiresAt, sel.ExpiredAt)) {
			d.remove(e)
			n++
		}
	}
	return n, nil
}

// Scan implements [RewrapStore.Scan]. It sorts the domain's tokens on each
// call: fine for tests, not for millions of entries.
func (s *MemoryStore) Scan(ctx context.Context, domain, after string, limit int, now time.Time) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domain(domain)
	var toks []string
	for tok, e := range d.byToken {
		if tok > after && !expired(e.ExpiresAt, now) {
			toks = append(toks, tok)
		}
	}
	slices.Sort(toks)
	toks = toks[:min(limit, len(toks))]
	out := make([]Entry, len(toks))
	for i, tok := range toks {
		out[i] = d.byToken[tok].clone()
	}
	return out, nil
}

// Replace implements [RewrapStore.Replace].
func (s *MemoryStore) Replace(ctx context.Context, domain string, repl []Replacement, now time.Time) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domain(domain)
	out := make([]bool, len(repl))
	for i, r := range repl {
		old, ok := d.byToken[r.Token]
		if !ok || expired(old.ExpiresAt, now) || !sameCiphertext(old.Ciphertext, r.Old) {
			continue
		}
		idx := r.Index
		if idx != nil {
			if tok, ok := d.byIndex[string(idx)]; ok && tok != r.Token {
				if holder := d.byToken[tok]; expired(holder.ExpiresAt, now) {
					d.remove(holder)
				} else {
					idx = nil
				}
			}
		}
		d.remove(old)
		e := Entry{Token: r.Token, Ciphertext: r.Ciphertext, Index: idx, Subject: r.Subject, ExpiresAt: old.ExpiresAt}.clone()
		d.byToken[e.Token] = e
		if e.Index != nil {
			d.byIndex[string(e.Index)] = e.Token
		}
		out[i] = true
	}
	return out, nil
}

// clone returns e with its byte slices copied, nil where empty.
func (e Entry) clone() Entry {
	cp := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return append([]byte(nil), b...)
	}
	e.Ciphertext, e.Index, e.Subject = cp(e.Ciphertext), cp(e.Index), cp(e.Subject)
	return e
}

var (
	_ Store       = (*MemoryStore)(nil)
	_ RewrapStore = (*MemoryStore)(nil)
)
