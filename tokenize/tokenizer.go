package tokenize

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
)

const (
	// MaxValueSize is the largest value a [Tokenizer] accepts, in bytes.
	// Tokens are never longer.
	MaxValueSize = 4096
	// MaxBatchSize is the most items one [Tokenizer.TokenizeBatch] or
	// [Tokenizer.DetokenizeBatch] call takes.
	MaxBatchSize = 10_000
	// IndexSize is the size of [Entry.Index] and [Entry.Subject], in bytes:
	// a 4-byte PRF key ID then a 16-byte PRF output. 128 bits keep the
	// chance that two of 2^32 values share an index below 2^-64.
	IndexSize = 4 + prfOutputSize

	prfOutputSize = 16
	// maxAttempts bounds the token draws per value and the Put rounds per
	// batch when tokens collide.
	maxAttempts = 16
	// Domain-separation labels: each is a PRF or AEAD input prefix.
	vaultLabel   = "tillid/v1/token-vault"
	indexLabel   = "tillid/v1/token-index"
	subjectLabel = "tillid/v1/token-subject"
)

// Mode says whether a [Tokenizer] gives a value the same token every time.
// The zero Mode, ModeUnknown, is rejected by [New].
type Mode int

const (
	// ModeUnknown is the invalid zero Mode.
	ModeUnknown Mode = iota
	// ModeRandom issues a new token on every call: tokens of equal values
	// are unrelated, and the store holds no index of values.
	ModeRandom
	// ModeConsistent gives the same value of the same data subject the same
	// token within a domain, for as long as that token lives and the PRF
	// key's primary stays the same. The store finds the existing token
	// through a keyed PRF of the subject and the value, never the value
	// itself. Tokens then reveal equality: anyone who sees two tokens
	// learns whether the values behind them are equal, which is what joins
	// and counts on tokenized columns need.
	ModeConsistent
)

// String returns "random", "consistent" or "unknown".
func (m Mode) String() string {
	switch m {
	case ModeRandom:
		return "random"
	case ModeConsistent:
		return "consistent"
	default:
		return "unknown"
	}
}

// Tokenizer replaces the values of one domain (such as "card" or "cpr")
// with vaulted tokens: a random token in a [Format] stands for the value,
// and the [Store] keeps the value AEAD-encrypted under the token. Only a
// holder of the Tokenizer, its store and its keys can turn a token back
// into the value. A Tokenizer is safe for concurrent use, also by many
// processes that share one store.
//
// Keys come from a keys.Provider: an AEAD keyset encrypts the values, with
// associated data that binds each ciphertext to the domain and its token,
// and a PRF keyset derives the consistent-mode index and the subject index.
// Both are named "tokenize-<domain>" unless [WithKeyName] says otherwise.
// After an AEAD rotation new entries use the new primary and old entries
// keep detokenizing while their key is enabled. After a PRF rotation,
// consistent mode gives a value a new token; its old token keeps
// detokenizing, and [Tokenizer.DeleteSubject] finds tokens under every
// enabled PRF key. [Tokenizer.Rewrap] moves the stored entries to the new
// primaries, so that the old keys can be disabled and destroyed.
//
// What leaks: in [ModeConsistent] tokens reveal equality of values of one
// subject (of every value, when no subject is given). The format leaks what
// it keeps (see [Format]). The store sees ciphertext lengths, which are the
// value lengths plus 33 bytes, the number of tokens per subject index, and
// when each token expires.
type Tokenizer struct {
	provider keys.Provider
	store    Store
	domain   string
	mode     Mode
	keyName  string
	format   Format
	ttl      time.Duration
	now      func() time.Time
}

// Item is one value for [Tokenizer.TokenizeBatch].
type Item struct {
	// Value is the value to tokenize: 1 to [MaxValueSize] bytes of UTF-8.
	Value string
	// Subject is the ID of the data subject the value belongs to, or "".
	// The store keeps a keyed PRF of it (see [ForSubject]).
	Subject string
	// TTL is the token's lifetime, or 0 for the domain's (see [WithTTL]).
	TTL time.Duration
	// ExpiresAt, when not zero, is when the token expires, overriding TTL:
	// the end of its field's retention period (pii sets it from retain=
	// and from=), so that [Tokenizer.Purge] and a retention sweep agree.
	// An instant already past makes a token that is expired at once (pii
	// then reveals its field as expired, not as an error).
	ExpiresAt time.Time
}

// New returns a Tokenizer for domain over store, with keys from provider.
// domain is 1 to 32 characters of [a-z0-9_-]; it names the tokens' space in
// the store and is bound into every key and ciphertext, so a token of one
// domain never detokenizes in another. mode is [ModeRandom] or
// [ModeConsistent]. The options are [WithFormat] (default
// [RandomAlphanumeric]), [WithTTL], [WithKeyName] and [WithClock]; any other option is an
// error. New does not call the provider or the store.
func New(provider keys.Provider, store Store, domain string, mode Mode, opts ...Option) (*Tokenizer, error) {
	if provider == nil || store == nil {
		return nil, fmt.Errorf("tokenize: New needs a key provider and a store")
	}
	if err := validDomain(domain); err != nil {
		return nil, err
	}
	if mode != ModeRandom && mode != ModeConsistent {
		return nil, fmt.Errorf("tokenize: mode %d: want ModeRandom or ModeConsistent", int(mode))
	}
	s := settings{keyName: "tokenize-" + domain, format: RandomAlphanumeric(), now: time.Now, forTokenizer: true}
	for _, o := range opts {
		if err := o.apply(&s); err != nil {
			return nil, err
		}
	}
	return &Tokenizer{provider: provider, store: store, domain: domain, mode: mode, keyName: s.keyName, format: s.format, ttl: s.ttl, now: s.now}, nil
}

func validDomain(domain string) error {
	if len(domain) == 0 || len(domain) > 32 {
		return fmt.Errorf("tokenize: domain must be 1 to 32 characters of a-z, 0-9, '_', '-'")
	}
	for _, r := range domain {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("tokenize: domain %q: only a-z, 0-9, '_', '-' are allowed", domain)
		}
	}
	return nil
}

// Now returns the time of the Tokenizer's clock ([WithClock], time.Now by
// default): a token whose expiry is at or before it is expired, and
// [Tokenizer.Detokenize] no longer finds it.
func (t *Tokenizer) Now() time.Time { return t.now() }

// Domain returns the tokenizer's domain.
func (t *Tokenizer) Domain() string { return t.domain }

// Mode returns the tokenizer's mode.
func (t *Tokenizer) Mode() Mode { return t.mode }

// Format returns the tokenizer's token format.
func (t *Tokenizer) Format() Format { return t.format }

// Tokenize returns a token for value and stores the value, encrypted, under
// it. In [ModeConsistent] it returns the live token the value already has,
// if any (with its original expiry). The options are [ForSubject] and
// [ExpiresIn].
//
// Tokenize returns an error wrapping [ErrInvalidValue], and stores nothing,
// when value is empty, larger than [MaxValueSize], not valid UTF-8, or not
// of the shape the format needs. Errors from the key provider (such as
// keys.ErrKeyNotFound) and the store are wrapped. A token is returned only
// once its entry is stored. Errors never carry the value or the token.
func (t *Tokenizer) Tokenize(ctx context.Context, value string, opts ...TokenOption) (string, error) {
	it := Item{Value: value}
	for _, o := range opts {
		if err := o.applyItem(&it); err != nil {
			return "", err
		}
	}
	toks, err := t.tokenize(ctx, []Item{it}, false)
	if err != nil {
		return "", err
	}
	return toks[0], nil
}

// TokenizeBatch is [Tokenizer.Tokenize] for up to [MaxBatchSize] items in
// one store call (one transaction): it returns their tokens in order, or an
// error and stores nothing. The error names the position of a bad item, not
// its value. Items with the same subject and value get the same token in
// [ModeConsistent], and different tokens in [ModeRandom].
func (t *Tokenizer) TokenizeBatch(ctx context.Context, items []Item) ([]string, error) {
	return t.tokenize(ctx, items, true)
}

// ItemError is the error of a batch call that one item or token caused: it
// names the item's position (from 0) and wraps the cause, which carries no
// value.
type ItemError struct {
	Index int
	Err   error
}

// Error returns the cause's text, which names the item from 1.
func (e *ItemError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ItemError) Unwrap() error { return e.Err }

func itemErr(batch bool, i int, err error) error {
	if !batch {
		return err
	}
	return &ItemError{Index: i, Err: err}
}

func (t *Tokenizer) tokenize(ctx context.Context, items []Item, batch bool) ([]string, error) {
	if len(items) > MaxBatchSize {
		return nil, fmt.Errorf("tokenize: batch of %d items is larger than %d", len(items), MaxBatchSize)
	}
	where := func(i int) string {
		if batch {
			return fmt.Sprintf("item %d: ", i+1)
		}
		return ""
	}
	for i, it := range items {
		if err := t.checkValue(it.Value); err != nil {
			return nil, itemErr(batch, i, fmt.Errorf("tokenize: domain %q: %s%w", t.domain, where(i), err))
		}
		if it.TTL < 0 {
			return nil, itemErr(batch, i, fmt.Errorf("tokenize: %sTTL %v is negative", where(i), it.TTL))
		}
		if len(it.Subject) > MaxValueSize {
			return nil, itemErr(batch, i, fmt.Errorf("tokenize: %ssubject of %d bytes is larger than %d", where(i), len(it.Subject), MaxValueSize))
		}
	}
	if len(items) == 0 {
		return []string{}, nil
	}
	a, set, err := t.keys(ctx)
	if err != nil {
		return nil, err
	}
	primary, ok := set.PRFs[set.PrimaryID]
	if !ok {
		return nil, fmt.Errorf("tokenize: domain %q: PRF keyset has no primary: %w", t.domain, keys.ErrNoPrimaryKey)
	}
	now := t.now()

	// One pending entry per distinct token to store.
	type pending struct {
		entry Entry
		value string
		token string // the final token, once known
	}
	pend := make([]*pending, 0, len(items))
	of := make([]*pending, len(items)) // item -> its pending entry
	byIndex := make(map[string]*pending)
	taken := make(map[string]bool, len(items)) // tokens drawn in this batch
	for i, it := range items {
		var idx []byte
		if t.mode == ModeConsistent {
			if idx, err = t.valueIndex(primary, set.PrimaryID, it.Subject, it.Value); err != nil {
				return nil, err
			}
			if p := byIndex[string(idx)]; p != nil {
				of[i] = p
				continue
			}
		}
		p := &pending{value: it.Value, entry: Entry{Index: idx}}
		if it.Subject != "" {
			if p.entry.Subject, err = t.subjectIndex(primary, set.PrimaryID, it.Subject); err != nil {
				return nil, err
			}
		}
		ttl := it.TTL
		if ttl == 0 {
			ttl = t.ttl
		}
		if !it.ExpiresAt.IsZero() {
			p.entry.ExpiresAt = it.ExpiresAt
		} else if ttl > 0 {
			p.entry.ExpiresAt = now.Add(ttl)
		}
		if idx != nil {
			byIndex[string(idx)] = p
		}
		of[i] = p
		pend = append(pend, p)
	}
	// draw gives p a fresh token, distinct from its value and from every
	// other token of the batch, and encrypts the value under it.
	draw := func(p *pending) error {
		for range maxAttempts {
			tok := t.format.token(p.value)
			if tok == p.value || taken[tok] {
				continue
			}
			ct, err := a.Encrypt([]byte(p.value), t.associatedData(tok))
			if err != nil {
				return fmt.Errorf("tokenize: domain %q: encrypting: %v", t.domain, err)
			}
			taken[tok] = true
			p.entry.Token, p.entry.Ciphertext = tok, ct
			return nil
		}
		return fmt.Errorf("tokenize: domain %q: format %s found no free token in %d draws; the format leaves too few random characters", t.domain, t.format, maxAttempts)
	}
	for _, p := range pend {
		if err := draw(p); err != nil {
			return nil, err
		}
	}
	todo := pend
	for round := 0; len(todo) > 0; round++ {
		if round == maxAttempts {
			return nil, fmt.Errorf("tokenize: domain %q: tokens kept colliding after %d attempts; the format leaves too few random characters", t.domain, maxAttempts)
		}
		entries := make([]Entry, len(todo))
		for j, p := range todo {
			entries[j] = p.entry
		}
		res, err := t.store.Put(ctx, t.domain, entries, now)
		if err != nil {
			return nil, fmt.Errorf("tokenize: domain %q: storing %d tokens: %w", t.domain, len(entries), err)
		}
		if len(res) != len(entries) {
			return nil, fmt.Errorf("tokenize: domain %q: store returned %d results for %d entries", t.domain, len(res), len(entries))
		}
		collided := false
		for _, r := range res {
			if r == "" {
				collided = true
			}
		}
		next := todo[:0:0]
		for j, p := range todo {
			switch r := res[j]; {
			case r == "":
				// The token is taken: draw another and try again.
				if err := draw(p); err != nil {
					return nil, err
				}
				next = append(next, p)
			case r != p.entry.Token:
				// ModeConsistent: the value already has a live token.
				p.token = r
			case collided:
				// Not stored, because another entry of the batch collided.
				next = append(next, p)
			default:
				p.token = r
			}
		}
		todo = next
	}
	out := make([]string, len(items))
	for i, p := range of {
		out[i] = p.token
	}
	return out, nil
}

func (t *Tokenizer) checkValue(value string) error {
	switch {
	case value == "":
		return fmt.Errorf("value is empty: %w", ErrInvalidValue)
	case len(value) > MaxValueSize:
		return fmt.Errorf("value of %d bytes is larger than %d: %w", len(value), MaxValueSize, ErrInvalidValue)
	case !utf8.ValidString(value):
		return fmt.Errorf("value is not valid UTF-8: %w", ErrInvalidValue)
	}
	if err := t.format.check(value); err != nil {
		return err
	}
	return nil
}

// Detokenize returns the value behind token. It returns an error wrapping
// [ErrTokenNotFound] when the domain has no live entry for token (never
// issued, deleted, expired, or not a token at all), [ErrDecryption] when the
// entry does not decrypt (tampered with, or moved from another token or
// domain), and keys.ErrKeyDisabled or keys.ErrKeyDestroyed when the value's
// key is disabled or destroyed. Errors never carry the token or the value.
func (t *Tokenizer) Detokenize(ctx context.Context, token string) (string, error) {
	vals, err := t.detokenize(ctx, []string{token}, false)
	if err != nil {
		return "", err
	}
	return vals[0], nil
}

// DetokenizeBatch is [Tokenizer.Detokenize] for up to [MaxBatchSize] tokens
// in one store call: it returns their values in order, or the first error,
// which names the token's position.
func (t *Tokenizer) DetokenizeBatch(ctx context.Context, tokens []string) ([]string, error) {
	return t.detokenize(ctx, tokens, true)
}

func (t *Tokenizer) detokenize(ctx context.Context, tokens []string, batch bool) ([]string, error) {
	if len(tokens) > MaxBatchSize {
		return nil, fmt.Errorf("tokenize: batch of %d tokens is larger than %d", len(tokens), MaxBatchSize)
	}
	where := func(i int) string {
		if batch {
			return fmt.Sprintf("token %d: ", i+1)
		}
		return ""
	}
	for i, tok := range tokens {
		if tok == "" || len(tok) > MaxValueSize {
			return nil, itemErr(batch, i, fmt.Errorf("tokenize: domain %q: %sempty or oversized token: %w", t.domain, where(i), ErrTokenNotFound))
		}
	}
	if len(tokens) == 0 {
		return []string{}, nil
	}
	ks, err := t.provider.Keyset(ctx, t.keyName, keys.KindAEAD)
	if err != nil {
		return nil, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	a, err := ks.AEAD()
	if err != nil {
		return nil, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	entries, err := t.store.Get(ctx, t.domain, tokens, t.now())
	if err != nil {
		return nil, fmt.Errorf("tokenize: domain %q: reading %d tokens: %w", t.domain, len(tokens), err)
	}
	if len(entries) != len(tokens) {
		return nil, fmt.Errorf("tokenize: domain %q: store returned %d entries for %d tokens", t.domain, len(entries), len(tokens))
	}
	out := make([]string, len(tokens))
	for i, e := range entries {
		if e.Token == "" {
			return nil, itemErr(batch, i, fmt.Errorf("tokenize: domain %q: %s%w", t.domain, where(i), ErrTokenNotFound))
		}
		// The associated data names the token asked for, so an entry the
		// store returned for another token does not decrypt.
		pt, err := a.Decrypt(e.Ciphertext, t.associatedData(tokens[i]))
		if err != nil {
			return nil, itemErr(batch, i, t.decryptError(ks, e.Ciphertext, where(i)))
		}
		out[i] = string(pt)
	}
	return out, nil
}

// decryptError explains a failed decryption: a disabled or destroyed key
// when the ciphertext's Tink prefix names one, else ErrDecryption.
func (t *Tokenizer) decryptError(ks *keys.Keyset, ct []byte, where string) error {
	if len(ct) >= 5 && ct[0] == 1 {
		if err := ks.CheckKeyID(binary.BigEndian.Uint32(ct[1:5])); err != nil && !errors.Is(err, keys.ErrKeyNotFound) {
			return fmt.Errorf("tokenize: domain %q: %s%w", t.domain, where, err)
		}
	}
	return fmt.Errorf("tokenize: domain %q: %s%w", t.domain, where, ErrDecryption)
}

// Delete deletes token and its vault entry, expired or not. It returns an
// error wrapping [ErrTokenNotFound] when the domain has no such token.
func (t *Tokenizer) Delete(ctx context.Context, token string) error {
	if token == "" {
		return fmt.Errorf("tokenize: domain %q: empty token: %w", t.domain, ErrTokenNotFound)
	}
	n, err := t.store.Delete(ctx, t.domain, Selection{Tokens: []string{token}})
	if err != nil {
		return fmt.Errorf("tokenize: domain %q: deleting a token: %w", t.domain, err)
	}
	if n == 0 {
		return fmt.Errorf("tokenize: domain %q: %w", t.domain, ErrTokenNotFound)
	}
	return nil
}

// DeleteSubject deletes every token of the domain that was issued
// [ForSubject] subject, under any enabled PRF key, and returns how many it
// deleted. Tokens in other domains are not touched: call it on the
// Tokenizer of each domain. It returns an error wrapping [ErrInvalidValue]
// for an empty subject, and, with the count of what it did delete, an error
// wrapping keys.ErrKeyDisabled when the PRF keyset has disabled keys, under
// which some of the subject's tokens may be indexed and so not found: an
// erasure is never reported complete when it may not be.
func (t *Tokenizer) DeleteSubject(ctx context.Context, subject string) (int64, error) {
	if subject == "" || len(subject) > MaxValueSize {
		return 0, fmt.Errorf("tokenize: domain %q: subject is empty or larger than %d bytes: %w", t.domain, MaxValueSize, ErrInvalidValue)
	}
	ks, err := t.provider.Keyset(ctx, t.keyName, keys.KindPRF)
	if err != nil {
		return 0, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	set, err := ks.PRF()
	if err != nil {
		return 0, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	subjects := make([][]byte, 0, len(set.PRFs))
	for id, p := range set.PRFs {
		s, err := t.subjectIndex(p, id, subject)
		if err != nil {
			return 0, err
		}
		subjects = append(subjects, s)
	}
	n, err := t.store.Delete(ctx, t.domain, Selection{Subjects: subjects})
	if err != nil {
		return 0, fmt.Errorf("tokenize: domain %q: deleting a subject's tokens: %w", t.domain, err)
	}
	// Tokens indexed under a disabled PRF key cannot be found: say so
	// rather than report an erasure that may be incomplete.
	var disabled []uint32
	for _, k := range ks.Keys() {
		if k.Status == keyset.Disabled {
			disabled = append(disabled, k.KeyID)
		}
	}
	if len(disabled) > 0 {
		return n, fmt.Errorf("tokenize: domain %q: deleted %d tokens, but PRF keys %v are disabled and tokens indexed under them may remain; enable them and run DeleteSubject again: %w", t.domain, n, disabled, keys.ErrKeyDisabled)
	}
	return n, nil
}

// Purge deletes the domain's expired tokens and returns how many it
// deleted. Expired tokens already fail to detokenize; Purge reclaims their
// space. Run it from a periodic job; it is safe to run from many processes.
func (t *Tokenizer) Purge(ctx context.Context) (int64, error) {
	n, err := t.store.Delete(ctx, t.domain, Selection{ExpiredAt: t.now()})
	if err != nil {
		return 0, fmt.Errorf("tokenize: domain %q: purging: %w", t.domain, err)
	}
	return n, nil
}

// keys returns the domain's AEAD primitive and PRF set.
func (t *Tokenizer) keys(ctx context.Context) (tink.AEAD, *prf.Set, error) {
	aks, err := t.provider.Keyset(ctx, t.keyName, keys.KindAEAD)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	a, err := aks.AEAD()
	if err != nil {
		return nil, nil, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	pks, err := t.provider.Keyset(ctx, t.keyName, keys.KindPRF)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	set, err := pks.PRF()
	if err != nil {
		return nil, nil, fmt.Errorf("tokenize: domain %q: %w", t.domain, err)
	}
	return a, set, nil
}

// associatedData binds a vault ciphertext to the domain and the token:
// vaultLabel || 0x00 || domain || 0x00 || token. Neither the label nor the
// domain holds a zero byte, so the encoding is unambiguous.
func (t *Tokenizer) associatedData(token string) []byte {
	b := make([]byte, 0, len(vaultLabel)+len(t.domain)+len(token)+2)
	b = append(b, vaultLabel...)
	b = append(b, 0)
	b = append(b, t.domain...)
	b = append(b, 0)
	return append(b, token...)
}

// valueIndex returns keyID || PRF(indexLabel || 0x00 || domain || 0x00 ||
// uvarint(len(subject)) || subject || value), [IndexSize] bytes.
func (t *Tokenizer) valueIndex(p prf.PRF, keyID uint32, subject, value string) ([]byte, error) {
	in := make([]byte, 0, len(indexLabel)+len(t.domain)+len(subject)+len(value)+12)
	in = append(in, indexLabel...)
	in = append(in, 0)
	in = append(in, t.domain...)
	in = append(in, 0)
	in = binary.AppendUvarint(in, uint64(len(subject)))
	in = append(in, subject...)
	in = append(in, value...)
	return t.prf(p, keyID, in)
}

// subjectIndex returns keyID || PRF(subjectLabel || 0x00 || domain || 0x00
// || subject), [IndexSize] bytes.
func (t *Tokenizer) subjectIndex(p prf.PRF, keyID uint32, subject string) ([]byte, error) {
	in := make([]byte, 0, len(subjectLabel)+len(t.domain)+len(subject)+2)
	in = append(in, subjectLabel...)
	in = append(in, 0)
	in = append(in, t.domain...)
	in = append(in, 0)
	in = append(in, subject...)
	return t.prf(p, keyID, in)
}

func (t *Tokenizer) prf(p prf.PRF, keyID uint32, in []byte) ([]byte, error) {
	out, err := p.ComputePRF(in, prfOutputSize)
	if err != nil {
		return nil, fmt.Errorf("tokenize: domain %q: PRF: %v", t.domain, err)
	}
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, IndexSize), keyID), out...), nil
}
