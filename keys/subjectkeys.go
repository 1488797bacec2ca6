package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/prf"
)

// SubjectKeys hands out one data key per data subject and purpose, and
// erases them (crypto-shredding): [SubjectKeys.Forget] destroys every key
// of a subject, [SubjectKeys.Withdraw] those of one purpose, each leaving a
// tombstone so that values under them read as erased ([ErrErased]) rather
// than unknown ([ErrKeyNotFound]).
//
// # Keys
//
// A subject key is 32 random bytes (the seed) per (subject, purpose). Its
// AEAD keyset holds one AES-256-GCM key and its deterministic AEAD keyset
// one AES-256-SIV key, both derived from the seed with HKDF-SHA256 (RFC
// 5869, info "tillid/v1/subject-key/aead" and ".../daead"), under a Tink
// key ID also derived from it. The seed is stored wrapped under the
// primary of the provider's AEAD keyset named by [WithWrappingKeyName]
// ("subject-keys" unless set), with the associated data
// "tillid/v1/subject-key" || 0x00 || pseudonym || purpose, so a wrapped key
// moved to another subject or purpose does not unwrap. The stored form is
// Tink's: 0x01 || wrapping key ID (4) || nonce (12) || seed (32) || tag
// (16), 65 bytes, beside a 16-byte pseudonym, the purpose and two times.
// The wrapping keyset rotates like any keyset: old wraps unwrap while
// their wrapping key is enabled, and no KMS call is made per subject (the
// provider unwraps the wrapping keyset once per its TTL).
//
// Subject IDs are stored as their [Pseudonym] under the provider's PRF
// keyset named by [WithPseudonymKeyName] ("subject-pseudonym" unless set).
// Its first enabled key is used, always: rotating that keyset changes
// nothing, and destroying its first key loses every subject key.
//
// # Cache
//
// Keys are cached per SubjectKeys for the cache TTL ([WithSubjectCacheTTL],
// [DefaultSubjectCacheTTL] unless set), and so are erasures. Concurrent requests
// for a key that is not cached wait for one store read (single-flight),
// and a batch of keys missing from the cache costs one read and, for the
// keys that do not exist, one create, whatever its size. After Forget or
// Withdraw returns on one SubjectKeys, that one never hands out the erased
// keys again; another SubjectKeys over the same store stops within its
// cache TTL at most.
//
// # Erasure and backups
//
// Forget and Withdraw delete the key material from the store and leave
// tombstones there, then append to the [Ledger], which must live apart
// from the data and the key store. Copies of the data need nothing more:
// their values are under keys that no longer exist. A restored backup of
// the key store, though, brings erased keys back; after a restore, run
// [SubjectKeys.ReapplyErasures] with the time of the backup, before any
// instance serves keys. Rotating the wrapping keyset on a schedule and
// destroying its old keys once [SubjectKeys.Rewrap] has moved every key
// and the backup retention window has passed makes old key-store backups
// unreadable as a whole, erased or not: the backup holds only wrapped
// keys, and the keys that wrapped them are gone.
//
// Nothing here holds a subject ID: stores, ledgers, receipts, audit events
// and errors name subjects by pseudonym. Values protected under a subject
// key are as safe as that key: a caller that kept a *Keyset from before an
// erasure can still use it until it drops it.
//
// A SubjectKeys is safe for concurrent use.
type SubjectKeys struct {
	provider Provider
	store    SubjectKeyStore
	ledger   Ledger
	cfg      subjectConfig

	mu      sync.RWMutex
	cache   map[string]map[string]*subjectEntry // subject → purpose → entry
	flights map[subjectCacheKey]*subjectFlight
	// epoch counts erasures and Allows; erasedAt holds the epoch of the
	// last one of each subject while loads are in flight, and allAt that
	// of the last change to every subject (ReapplyErasures). A load that
	// began before one of them does not publish what it read of that
	// subject. All under mu.
	epoch    uint64
	erasedAt map[string]uint64
	allAt    uint64
	loading  int // loads in flight
	puts     int // entries cached since the last sweep of expired ones
}

// SubjectOption is a rare setting of [NewSubjectKeys]. Its method is
// unexported so that only this package makes options.
type SubjectOption interface {
	applySubject(*subjectConfig) error
}

type subjectOptionFunc func(*subjectConfig) error

func (f subjectOptionFunc) applySubject(c *subjectConfig) error { return f(c) }

type subjectConfig struct {
	ttl       time.Duration
	now       func() time.Time
	auditor   Auditor
	wrapName  string
	prfName   string
	newSeed   func([]byte) error
	maxTrying int
}

// DefaultSubjectCacheTTL is how long a [SubjectKeys] serves keys and
// erasures from memory unless [WithSubjectCacheTTL] says otherwise: 30 s.
// It is shorter than [DefaultCacheTTL] because it bounds how long another
// instance keeps revealing, and protecting new data of, a subject after
// Forget or Withdraw returned on one instance (GDPR Art. 17).
const DefaultSubjectCacheTTL = 30 * time.Second

// WithSubjectCacheTTL sets how long keys and erasures are served from
// memory: [DefaultSubjectCacheTTL] unless set. It bounds how long another
// instance keeps using a key after an erasure. ttl must be positive.
func WithSubjectCacheTTL(ttl time.Duration) SubjectOption {
	return subjectOptionFunc(func(c *subjectConfig) error {
		if ttl <= 0 {
			return fmt.Errorf("keys: cache TTL %v is not positive", ttl)
		}
		c.ttl = ttl
		return nil
	})
}

// WithSubjectClock sets the clock of cache expiry and of erasure times:
// time.Now unless set. Tests pass a fake one.
func WithSubjectClock(now func() time.Time) SubjectOption {
	return subjectOptionFunc(func(c *subjectConfig) error {
		if now == nil {
			return errors.New("keys: nil clock")
		}
		c.now = now
		return nil
	})
}

// WithSubjectAuditor sends an [Event] to a for every erasure
// ([EventSubjectErased]) and every Allow ([EventSubjectAllowed]), naming
// the subject by its pseudonym.
func WithSubjectAuditor(a Auditor) SubjectOption {
	return subjectOptionFunc(func(c *subjectConfig) error {
		c.auditor = a
		return nil
	})
}

// WithWrappingKeyName names the provider's AEAD keyset that wraps subject
// keys: "subject-keys" unless set.
func WithWrappingKeyName(name string) SubjectOption {
	return subjectOptionFunc(func(c *subjectConfig) error {
		c.wrapName = name
		return validKeyName(name)
	})
}

// WithPseudonymKeyName names the provider's PRF keyset that makes subject
// pseudonyms: "subject-pseudonym" unless set.
func WithPseudonymKeyName(name string) SubjectOption {
	return subjectOptionFunc(func(c *subjectConfig) error {
		c.prfName = name
		return validKeyName(name)
	})
}

// NewSubjectKeys returns SubjectKeys that take their wrapping and
// pseudonym keysets from provider, keep subject keys in store and append
// every erasure to ledger, which should live apart from the data and the
// key store (see [Ledger]). It accepts [WithSubjectCacheTTL],
// [WithSubjectClock], [WithSubjectAuditor], [WithWrappingKeyName] and
// [WithPseudonymKeyName]. It makes no call: keysets are fetched on first
// use.
func NewSubjectKeys(provider Provider, store SubjectKeyStore, ledger Ledger, opts ...SubjectOption) (*SubjectKeys, error) {
	if provider == nil || store == nil || ledger == nil {
		return nil, errors.New("keys: NewSubjectKeys needs a provider, a store and a ledger")
	}
	c := subjectConfig{ttl: DefaultSubjectCacheTTL, now: time.Now, wrapName: "subject-keys", prfName: "subject-pseudonym", newSeed: randomSeed, maxTrying: 16}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applySubject(&c); err != nil {
			return nil, err
		}
	}
	return &SubjectKeys{provider: provider, store: store, ledger: ledger, cfg: c,
		cache: map[string]map[string]*subjectEntry{}, flights: map[subjectCacheKey]*subjectFlight{}, erasedAt: map[string]uint64{}}, nil
}

type subjectCacheKey struct{ subject, purpose string }

// subjectEntry is what is known of one (subject, purpose).
type subjectEntry struct {
	pseudonym Pseudonym
	seed      []byte    // nil when erased or absent
	erased    time.Time // non-zero when erased
	// shredded is set when earlier keys of the (subject, purpose) were
	// destroyed and the erasure was lifted by Allow: values under them
	// read as erased, and a new key may be made (seed holds it, if made).
	shredded bool
	expires  time.Time
	keysets  [2]atomic.Pointer[Keyset] // AEAD, deterministic AEAD; built on first use
}

type subjectFlight struct {
	create bool
	done   chan struct{}
	entry  *subjectEntry // nil when the flight must be retried
	err    error
}

// SubjectKeyError is the failure of one item of a batch: Index is its
// position in the slice passed. It carries no subject ID.
type SubjectKeyError struct {
	Index int
	Err   error
}

// Error returns "keys: subject key <index>: <Err>".
func (e *SubjectKeyError) Error() string {
	return fmt.Sprintf("keys: subject key %d: %v", e.Index, e.Err)
}

// Unwrap returns Err.
func (e *SubjectKeyError) Unwrap() error { return e.Err }

// Keys returns the keyset of each id, creating the keys that do not exist
// yet: all new keys of one call in one store batch (a few statements, not
// one per subject). A key erased by Forget or Withdraw is not made again:
// Keys then fails with a [*SubjectKeyError] naming the first such item and
// wrapping [ErrErased], until [SubjectKeys.Allow]. It also returns
// [ErrInvalidSubject] for an empty subject ID, [ErrInvalidKind] for a kind
// other than KindAEAD and KindDeterministicAEAD, the provider's errors
// (such as [ErrKMSUnavailable]) and the store's. When it fails, keys it
// made for other items of the batch may be stored already; they protect
// nothing yet, and the next call returns them. The keysets are shared:
// callers must not change them.
func (s *SubjectKeys) Keys(ctx context.Context, ids []SubjectKeyID) ([]*Keyset, error) {
	out, errs, err := s.resolve(ctx, ids, true)
	if err != nil {
		return nil, err
	}
	for i, e := range errs {
		if e != nil {
			return nil, &SubjectKeyError{Index: i, Err: e}
		}
	}
	return out, nil
}

// KeysEach is [SubjectKeys.Keys] that reports erased items one by one
// instead of failing the call: it creates the keys that do not exist yet
// (in one store batch), and for an item whose key was erased by Forget or
// Withdraw it leaves a nil keyset and an error wrapping [ErrErased] in errs
// (its other items are resolved, and made when missing). err reports what
// fails the whole call, as for Keys. Callers that seal many records in one
// call use it to name the record of an erased subject rather than the
// batch.
func (s *SubjectKeys) KeysEach(ctx context.Context, ids []SubjectKeyID) (keysets []*Keyset, errs []error, err error) {
	keysets, errs, err = s.resolve(ctx, ids, true)
	if err == nil && errs == nil {
		errs = make([]error, len(ids))
	}
	return keysets, errs, err
}

// Lookup returns the keyset of each id without creating any: for an item
// whose key was erased, a nil keyset and an error wrapping [ErrErased] in
// errs; for one the store never held, a nil keyset and [ErrKeyNotFound].
// err reports what fails the whole call: invalid input (as for
// [SubjectKeys.Keys]), the provider and the store.
func (s *SubjectKeys) Lookup(ctx context.Context, ids []SubjectKeyID) (keysets []*Keyset, errs []error, err error) {
	keysets, errs, err = s.resolve(ctx, ids, false)
	if err == nil && errs == nil {
		errs = make([]error, len(ids))
	}
	return keysets, errs, err
}

// Pseudonym returns the keyed pseudonym of subject, as stores, the ledger
// and receipts hold it. It returns [ErrInvalidSubject] for an empty ID and
// the provider's errors.
func (s *SubjectKeys) Pseudonym(ctx context.Context, subject string) (Pseudonym, error) {
	if err := s.ready(ctx); err != nil {
		return Pseudonym{}, err
	}
	if err := checkSubject(subject); err != nil {
		return Pseudonym{}, err
	}
	f, err := s.pseudonymPRF(ctx)
	if err != nil {
		return Pseudonym{}, err
	}
	return pseudonymOf(f, subject)
}

func (s *SubjectKeys) checkIDs(ids []SubjectKeyID) error {
	for i, id := range ids {
		err := checkSubject(id.Subject)
		if err == nil {
			err = checkPurpose(id.Purpose)
		}
		if err == nil && id.Kind != KindAEAD && id.Kind != KindDeterministicAEAD {
			err = fmt.Errorf("keys: subject keys are KindAEAD or KindDeterministicAEAD, not %v: %w", id.Kind, ErrInvalidKind)
		}
		if err != nil {
			return &SubjectKeyError{Index: i, Err: err}
		}
	}
	return nil
}

// ready refuses a nil or zero SubjectKeys and a nil context.
func (s *SubjectKeys) ready(ctx context.Context) error {
	if s == nil || s.store == nil || s.provider == nil || s.ledger == nil {
		return errors.New("keys: SubjectKeys not made by NewSubjectKeys")
	}
	if ctx == nil {
		return errors.New("keys: nil context; pass context.Background()")
	}
	return nil
}

func (s *SubjectKeys) resolve(ctx context.Context, ids []SubjectKeyID, create bool) ([]*Keyset, []error, error) {
	if err := s.ready(ctx); err != nil {
		return nil, nil, err
	}
	if err := s.checkIDs(ids); err != nil {
		return nil, nil, err
	}
	out := make([]*Keyset, len(ids))
	var errs []error // made on the first failing item
	var missing []subjectCacheKey
	var missed []int
	now := s.cfg.now()
	s.mu.RLock()
	for i, id := range ids {
		if e := s.cache[id.Subject][id.Purpose]; e != nil && now.Before(e.expires) && e.serves(create) {
			if err := s.fill(out, &errs, ids, i, e); err != nil {
				s.mu.RUnlock()
				return nil, nil, err
			}
		} else {
			missing = append(missing, subjectCacheKey{id.Subject, id.Purpose})
			missed = append(missed, i)
		}
	}
	s.mu.RUnlock()
	if len(missing) == 0 {
		return out, errs, nil
	}
	got, err := s.fetch(ctx, missing, create)
	if err != nil {
		return nil, nil, err
	}
	for j, i := range missed {
		e := got[missing[j]]
		if e == nil {
			return nil, nil, errors.New("keys: subject key store returned no row for a key it was asked to create")
		}
		if err := s.fill(out, &errs, ids, i, e); err != nil {
			return nil, nil, err
		}
	}
	return out, errs, nil
}

// serves reports whether the entry answers a request: a request that
// creates keys needs more than a key's absence (an entry with neither key
// nor tombstone, which only lookups cache: one whose erasure Allow lifted).
func (e *subjectEntry) serves(create bool) bool {
	return !create || e.seed != nil || !e.erased.IsZero()
}

// fill sets out[i] from e, or (*errs)[i] when e is erased or absent. A
// (subject, purpose) whose erasure Allow lifted and that has no new key
// yet reads as erased: every value under it is under a destroyed key.
func (s *SubjectKeys) fill(out []*Keyset, errs *[]error, ids []SubjectKeyID, i int, e *subjectEntry) error {
	var itemErr error
	switch {
	case !e.erased.IsZero(), e.seed == nil && e.shredded:
		itemErr = fmt.Errorf("keys: %v of subject %s: %w", ids[i], e.pseudonym, ErrErased)
	case e.seed == nil:
		itemErr = fmt.Errorf("keys: %v of subject %s: %w", ids[i], e.pseudonym, ErrKeyNotFound)
	default:
		ks, err := e.keyset(ids[i].Purpose, ids[i].Kind)
		if err != nil {
			return err
		}
		out[i] = ks
		return nil
	}
	if *errs == nil {
		*errs = make([]error, len(ids))
	}
	(*errs)[i] = itemErr
	return nil
}

// fetch loads (and, with create, creates) the keys, sharing in-flight
// loads, and retries loads that overlapped an erasure on this instance.
func (s *SubjectKeys) fetch(ctx context.Context, keys []subjectCacheKey, create bool) (map[subjectCacheKey]*subjectEntry, error) {
	got := make(map[subjectCacheKey]*subjectEntry, len(keys))
	pending := slices.Compact(slices.SortedFunc(slices.Values(keys), compareCacheKeys))
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == s.cfg.maxTrying {
			return nil, errors.New("keys: subject keys kept changing under concurrent erasures; try again")
		}
		var lead []subjectCacheKey
		var mine *subjectFlight
		waits := map[subjectCacheKey]*subjectFlight{}
		s.mu.Lock()
		epoch := s.epoch
		now := s.cfg.now()
		for _, k := range pending {
			// A flight that ended between the caller's cache look-up and
			// here has cached its key: take it rather than read again.
			if e := s.cache[k.subject][k.purpose]; e != nil && now.Before(e.expires) && e.serves(create) {
				got[k] = e
				continue
			}
			if f := s.flights[k]; f != nil && (f.create || !create) {
				waits[k] = f
				continue
			}
			if mine == nil {
				mine = &subjectFlight{create: create, done: make(chan struct{})}
			}
			s.flights[k] = mine
			lead = append(lead, k)
		}
		if len(lead) > 0 {
			s.loading++
		}
		s.mu.Unlock()

		var loaded map[subjectCacheKey]*subjectEntry
		var loadErr error
		if len(lead) > 0 {
			loaded, loadErr = s.load(ctx, lead, create)
			s.mu.Lock()
			for _, k := range lead {
				if s.flights[k] == mine {
					delete(s.flights, k)
				}
				e := loaded[k]
				if loadErr != nil || e == nil {
					continue
				}
				if s.allAt > epoch || s.erasedAt[k.subject] > epoch {
					delete(loaded, k) // erased or allowed meanwhile: read again
					continue
				}
				if e.seed != nil || !e.erased.IsZero() || e.shredded {
					s.putCached(k, e)
				}
			}
			if s.loading--; s.loading == 0 {
				clear(s.erasedAt) // no load began before these
			}
			s.mu.Unlock()
			mine.err = loadErr
			close(mine.done)
		}
		var next []subjectCacheKey
		if loadErr != nil {
			return nil, loadErr
		}
		for _, k := range lead {
			if e := loaded[k]; e != nil {
				got[k] = e
			} else {
				next = append(next, k)
			}
		}
		for k, f := range waits {
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("keys: reading subject keys: %w", ctx.Err())
			}
			s.mu.RLock()
			e := s.cache[k.subject][k.purpose]
			s.mu.RUnlock()
			if f.err != nil && !isContextError(f.err) {
				return nil, f.err
			}
			if e != nil && s.cfg.now().Before(e.expires) && f.err == nil && e.serves(create) {
				got[k] = e
			} else {
				next = append(next, k) // the flight failed for its own context, found nothing, or was overtaken
			}
		}
		pending = next
	}
	return got, nil
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func compareCacheKeys(a, b subjectCacheKey) int {
	if a.subject != b.subject {
		if a.subject < b.subject {
			return -1
		}
		return 1
	}
	switch {
	case a.purpose < b.purpose:
		return -1
	case a.purpose > b.purpose:
		return 1
	}
	return 0
}

// load reads keys from the store and, with create, creates the missing
// ones in one batch. An absent key gives an entry with neither seed nor
// erasure (only without create).
func (s *SubjectKeys) load(ctx context.Context, keys []subjectCacheKey, create bool) (map[subjectCacheKey]*subjectEntry, error) {
	f, err := s.pseudonymPRF(ctx)
	if err != nil {
		return nil, err
	}
	wrap, err := s.provider.Keyset(ctx, s.cfg.wrapName, KindAEAD)
	if err != nil {
		return nil, err
	}
	names := map[string]Pseudonym{}
	var pseudonyms []Pseudonym
	for _, k := range keys {
		if _, ok := names[k.subject]; ok {
			continue
		}
		p, err := pseudonymOf(f, k.subject)
		if err != nil {
			return nil, err
		}
		names[k.subject] = p
		pseudonyms = append(pseudonyms, p)
	}
	rows, err := s.store.Load(ctx, pseudonyms)
	if err != nil {
		return nil, fmt.Errorf("keys: reading subject keys: %w", err)
	}
	out, err := s.entries(wrap, keys, names, rows)
	if err != nil || !create {
		return out, err
	}
	var fresh []SubjectKeyRow
	now := s.cfg.now()
	for _, k := range keys {
		if e := out[k]; e.seed == nil && e.erased.IsZero() {
			row, err := s.newRow(wrap, names[k.subject], k.purpose, now)
			if err != nil {
				return nil, err
			}
			fresh = append(fresh, row)
		}
	}
	if len(fresh) == 0 {
		return out, nil
	}
	rows, err = s.store.Create(ctx, fresh)
	if err != nil {
		return nil, fmt.Errorf("keys: creating subject keys: %w", err)
	}
	created, err := s.entries(wrap, keys, names, rows)
	if err != nil {
		return nil, err
	}
	for k, e := range created {
		if e.seed != nil || !e.erased.IsZero() || e.shredded {
			out[k] = e
		}
	}
	return out, nil
}

// entries builds the entry of each key from the stored rows.
func (s *SubjectKeys) entries(wrap *Keyset, keys []subjectCacheKey, names map[string]Pseudonym, rows []SubjectKeyRow) (map[subjectCacheKey]*subjectEntry, error) {
	type ref struct {
		p       Pseudonym
		purpose string
	}
	byRef := make(map[ref]*SubjectKeyRow, len(rows))
	for i := range rows {
		byRef[ref{rows[i].Pseudonym, rows[i].Purpose}] = &rows[i]
	}
	expires := s.cfg.now().Add(s.cfg.ttl)
	out := make(map[subjectCacheKey]*subjectEntry, len(keys))
	for _, k := range keys {
		p := names[k.subject]
		e := &subjectEntry{pseudonym: p, expires: expires}
		if subj := byRef[ref{p, AllPurposes}]; subj != nil && !subj.Erased.IsZero() {
			e.erased = subj.Erased
		} else if r := byRef[ref{p, k.purpose}]; r != nil {
			switch {
			case r.Wrapped != nil:
				seed, err := unwrapSeed(wrap, p, k.purpose, r.Wrapped)
				if err != nil {
					return nil, err
				}
				e.seed = seed
			case !r.Erased.IsZero():
				e.erased = r.Erased
			}
			e.shredded = !r.Shredded.IsZero()
		}
		out[k] = e
	}
	return out, nil
}

func (s *SubjectKeys) pseudonymPRF(ctx context.Context) (prf.PRF, error) {
	ks, err := s.provider.Keyset(ctx, s.cfg.prfName, KindPRF)
	if err != nil {
		return nil, err
	}
	for _, ki := range ks.Keys() {
		if ki.Status == enabled {
			return ks.PRFFor(ki.KeyID)
		}
	}
	return nil, fmt.Errorf("keys: pseudonym keyset %q has no enabled key: %w", s.cfg.prfName, ErrNoPrimaryKey)
}

// Forget destroys every key of subject, in every purpose (crypto-shredding),
// and leaves a tombstone, so that values under them read as erased and no
// new key is made for subject until [SubjectKeys.Allow]; then it appends
// the erasure to the ledger and sends [EventSubjectErased]. A subject the
// store never saw is recorded the same way (requests come for people one
// may not hold). It is idempotent: a repeat destroys nothing more, its
// receipt keeps the first erasure time, and the ledger keeps one entry.
//
// It returns a receipt only once the store has erased and the ledger has
// recorded; on any error (the store or ledger unreachable, ctx ended),
// nothing is promised and the caller retries, which completes the erasure.
// It returns [ErrInvalidSubject] for an empty ID. The receipt names the
// subject by its pseudonym only.
func (s *SubjectKeys) Forget(ctx context.Context, subject string) (Erasure, error) {
	return s.erase(ctx, subject, AllPurposes)
}

// Withdraw destroys the key of subject for purpose (consent withdrawn for
// it) and leaves a tombstone, as [SubjectKeys.Forget] does for all
// purposes. purpose is a purpose name; "" is the subject's base key.
func (s *SubjectKeys) Withdraw(ctx context.Context, subject, purpose string) (Erasure, error) {
	if err := checkPurpose(purpose); err != nil {
		return Erasure{}, err
	}
	return s.erase(ctx, subject, purpose)
}

func (s *SubjectKeys) erase(ctx context.Context, subject, purpose string) (Erasure, error) {
	p, err := s.Pseudonym(ctx, subject)
	if err != nil {
		return Erasure{}, err
	}
	now := s.cfg.now()
	destroyed, at, err := s.store.Destroy(ctx, SubjectKeyDestroy{Pseudonym: p, Purpose: purpose, Time: now})
	s.forgetCached(subject, purpose) // also on failure: the store may have erased before failing
	if err != nil {
		return Erasure{}, fmt.Errorf("keys: erasing the keys of subject %s: %w", p, err)
	}
	slices.Sort(destroyed)
	receipt := Erasure{Pseudonym: p, Purpose: purpose, Time: at, Destroyed: destroyed}
	recorded := false
	if at.Before(now) { // recorded before: a retry or a repeat
		if receipt.Earlier, recorded, err = s.earlierDestroyed(ctx, p, purpose, at, destroyed); err != nil {
			return Erasure{}, err
		}
	}
	// The ledger records an erasure once: a repeat that destroyed nothing
	// more adds no entry (a retry whose append failed does).
	if !recorded || len(destroyed) > 0 {
		if err := s.ledger.Append(ctx, LedgerEntry{Time: at, Op: LedgerErase, Pseudonym: p, Purpose: purpose, Destroyed: destroyed}); err != nil {
			return Erasure{}, fmt.Errorf("keys: the keys of subject %s are erased but the ledger did not record it; retry: %w", p, err)
		}
	}
	audit(ctx, s.cfg.auditor, now, Event{Type: EventSubjectErased, Keyset: KeysetID{s.cfg.wrapName, KindAEAD}, Subject: p, Purpose: purpose, Done: int64(len(destroyed))})
	return receipt, nil
}

// Allow lets new keys be made for subject again after an erasure, for
// example after fresh consent: with no purposes, every tombstone of the
// subject is lifted (Forget's and Withdraw's), else those of the purposes
// named. Keys destroyed before stay destroyed, and their tombstones stay:
// values under them still read as erased ([ErrErased] from Lookup while no
// new key was made, and from [Keyset.CheckKeyID] of the new key's keyset
// for their key IDs), while Keys makes new keys. Allow is appended to the
// ledger, so that [SubjectKeys.ReapplyErasures] keeps it, and other
// instances see it within their cache TTL.
func (s *SubjectKeys) Allow(ctx context.Context, subject string, purposes ...string) error {
	p, err := s.Pseudonym(ctx, subject)
	if err != nil {
		return err
	}
	if len(purposes) == 0 {
		purposes = []string{AllPurposes}
	}
	for _, purpose := range purposes {
		if purpose != AllPurposes {
			if err := checkPurpose(purpose); err != nil {
				return err
			}
		}
	}
	now := s.cfg.now()
	for _, purpose := range purposes {
		if err := s.store.Allow(ctx, p, purpose); err != nil {
			return fmt.Errorf("keys: allowing subject %s again: %w", p, err)
		}
		s.forgetCached(subject, purpose)
		if err := s.ledger.Append(ctx, LedgerEntry{Time: now, Op: LedgerAllow, Pseudonym: p, Purpose: purpose}); err != nil {
			return fmt.Errorf("keys: subject %s is allowed again but the ledger did not record it; retry: %w", p, err)
		}
		audit(ctx, s.cfg.auditor, now, Event{Type: EventSubjectAllowed, Keyset: KeysetID{s.cfg.wrapName, KindAEAD}, Subject: p, Purpose: purpose})
	}
	return nil
}

// forgetCached drops the cached keys of subject (every purpose for
// AllPurposes) and makes loads in flight read again.
func (s *SubjectKeys) forgetCached(subject, purpose string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	if s.loading > 0 {
		s.erasedAt[subject] = s.epoch
	}
	if purpose != AllPurposes {
		delete(s.cache[subject], purpose)
		return
	}
	delete(s.cache, subject)
}

// putCached caches e, and every so many entries drops the expired ones,
// so that the cache holds about the keys used within one TTL; s.mu must
// be held.
func (s *SubjectKeys) putCached(k subjectCacheKey, e *subjectEntry) {
	if s.puts++; s.puts >= 4096 && s.puts >= len(s.cache) {
		s.puts = 0
		now := s.cfg.now()
		for subject, m := range s.cache {
			for purpose, old := range m {
				if !now.Before(old.expires) {
					delete(m, purpose)
				}
			}
			if len(m) == 0 {
				delete(s.cache, subject)
			}
		}
	}
	m := s.cache[k.subject]
	if m == nil {
		m = map[string]*subjectEntry{}
		s.cache[k.subject] = m
	}
	m[k.purpose] = e
}

// forgetAllCached empties the cache.
func (s *SubjectKeys) forgetAllCached() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.allAt = s.epoch
	clear(s.cache)
}

// String prints the names of the wrapping and pseudonym keysets and the
// cache TTL, never a subject ID or key, for example
// "keys.SubjectKeys{wrap=subject-keys pseudonym=subject-pseudonym ttl=5m0s}".
func (s *SubjectKeys) String() string {
	if s == nil {
		return "keys.SubjectKeys{<nil>}"
	}
	return fmt.Sprintf("keys.SubjectKeys{wrap=%s pseudonym=%s ttl=%v}", s.cfg.wrapName, s.cfg.prfName, s.cfg.ttl)
}

// GoString is String, so that %#v prints no subject ID either.
func (s *SubjectKeys) GoString() string { return s.String() }
