package tokenize

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tillid/tillid/keys"
)

// ff1KeyLabel prefixes the PRF input that derives a domain's FF1 key:
// "tillid/v1/ff1/" || domain.
const ff1KeyLabel = "tillid/v1/ff1/"

// FF1KeySize is the size of the AES-256 key derived for FF1 from each PRF
// key, in bytes.
const FF1KeySize = 32

// FPE is vaultless tokenization: format-preserving encryption with [FF1]
// (AES-256) over one [Alphabet], with keys from a keys.Provider. A token has
// the value's length and alphabet, needs no store, and decrypts with the
// key alone. It is safe for concurrent use.
//
// # Keys and rotation
//
// The FF1 key of each key ID is derived from the PRF keyset
// ("tokenize-<domain>" unless [WithKeyName] says otherwise, kind
// keys.KindPRF) as PRF_keyID("tillid/v1/ff1/" || domain), 32 bytes, so FF1
// keys rotate with that keyset and each domain has its own. The key ID
// travels beside the token: [FPE.Tokenize] returns it and
// [FPE.Detokenize] takes it back. The caller keeps it next to the token (a
// column, or the field's envelope).
//
// The alternatives were worse. Putting the key ID inside the token would
// break the format (a 16-digit card would no longer be 16 digits) or eat
// into the domain. Putting it only in the tweak would leave Detokenize to
// try every key, and since FF1 does not authenticate, every key "succeeds":
// there would be no way to tell the right value. The cost of the choice is
// that the caller must store 4 more bytes per token.
//
// # What leaks
//
// FPE is deterministic: equal values under the same key ID and tweak give
// equal tokens, so tokens reveal equality (pass a per-record tweak to
// prevent that where joins are not needed). Tokens keep the value's length
// and alphabet, and the suffix of [WithVisibleSuffix] is in the clear. After
// a rotation the same value gets a different token under the new key ID.
// FF1 does not authenticate: a mistyped token detokenizes to a wrong value,
// not an error.
type FPE struct {
	provider    keys.Provider
	keyName     string
	domain      string
	alphabet    *Alphabet
	visibleLast int

	cache atomic.Pointer[fpeCache]
}

// fpeCache holds the FF1 ciphers derived from one Keyset snapshot.
type fpeCache struct {
	ks      *keys.Keyset
	mu      sync.Mutex
	ciphers map[uint32]*FF1
}

// NewFPE returns an FPE for domain over alphabet, with keys from provider.
// domain is 1 to 32 characters of [a-z0-9_-] and is bound into the derived
// keys. The options are [WithKeyName] and [WithVisibleSuffix]; any other
// option is an error. NewFPE does not call the provider.
func NewFPE(provider keys.Provider, domain string, alphabet *Alphabet, opts ...Option) (*FPE, error) {
	if provider == nil {
		return nil, fmt.Errorf("tokenize: NewFPE needs a key provider")
	}
	if err := validDomain(domain); err != nil {
		return nil, err
	}
	if alphabet == nil || alphabet.Radix() < 2 {
		return nil, fmt.Errorf("tokenize: NewFPE needs an alphabet from NewAlphabet")
	}
	s := settings{keyName: "tokenize-" + domain, forFPE: true}
	for _, o := range opts {
		if err := o.apply(&s); err != nil {
			return nil, err
		}
	}
	return &FPE{provider: provider, keyName: s.keyName, domain: domain, alphabet: alphabet, visibleLast: s.visibleLast}, nil
}

// FPEMaxTweakSize is the largest tweak [FPE.Tokenize] takes, in bytes.
const FPEMaxTweakSize = 128

// Domain returns the FPE's domain.
func (f *FPE) Domain() string { return f.domain }

// Format describes the FPE's tokens: "ff1", or "ff1-keep-last-N" with
// [WithVisibleSuffix](N).
func (f *FPE) Format() string {
	if f.visibleLast > 0 {
		return fmt.Sprintf("ff1-keep-last-%d", f.visibleLast)
	}
	return "ff1"
}

// Tokenize encrypts value with FF1 under the PRF keyset's primary key and
// returns the token and that key's ID. The token has value's length, its
// characters are in the alphabet, and its last characters are value's when
// [WithVisibleSuffix] is set. tweak (at most [FPEMaxTweakSize] bytes, may be
// nil) is a public value such as a record ID that must be given again to
// Detokenize.
//
// Tokenize returns an error wrapping [ErrInvalidValue] when value holds a
// character outside the alphabet, or when the characters it encrypts are
// fewer than the alphabet's [Alphabet.MinLength] (radix^length below
// [MinDomainSize]) or more than [FF1MaxLength]. Provider errors are wrapped.
// Errors never carry the value.
func (f *FPE) Tokenize(ctx context.Context, value string, tweak []byte) (token string, keyID uint32, err error) {
	c, keyID, err := f.cipher(ctx, 0, true)
	if err != nil {
		return "", 0, err
	}
	token, err = f.crypt(c, value, tweak, false)
	if err != nil {
		return "", 0, err
	}
	return token, keyID, nil
}

// Detokenize decrypts token under the key keyID that [FPE.Tokenize]
// returned with it, and the same tweak. It returns the errors of Tokenize,
// and keys.ErrKeyNotFound, keys.ErrKeyDisabled or keys.ErrKeyDestroyed
// (wrapped) when keyID is unknown, disabled or destroyed.
func (f *FPE) Detokenize(ctx context.Context, token string, keyID uint32, tweak []byte) (string, error) {
	c, _, err := f.cipher(ctx, keyID, false)
	if err != nil {
		return "", err
	}
	return f.crypt(c, token, tweak, true)
}

func (f *FPE) crypt(c *FF1, in string, tweak []byte, decrypt bool) (string, error) {
	if len(tweak) > FPEMaxTweakSize {
		return "", fmt.Errorf("tokenize: domain %q: tweak is %d bytes, more than %d", f.domain, len(tweak), FPEMaxTweakSize)
	}
	if len(in) > 4*FF1MaxLength || !utf8.ValidString(in) {
		return "", fmt.Errorf("tokenize: domain %q: input is not valid UTF-8 or longer than %d characters: %w", f.domain, FF1MaxLength, ErrInvalidValue)
	}
	head, suffix := in, ""
	if f.visibleLast > 0 {
		runes := []rune(in)
		if len(runes) < f.visibleLast {
			return "", fmt.Errorf("tokenize: domain %q: input of %d characters is shorter than its visible suffix of %d: %w", f.domain, len(runes), f.visibleLast, ErrInvalidValue)
		}
		head, suffix = string(runes[:len(runes)-f.visibleLast]), string(runes[len(runes)-f.visibleLast:])
	}
	// The FF1 tweak is len(suffix) || suffix || tweak: the visible suffix
	// is bound in, and the length byte keeps the split unambiguous.
	t := make([]byte, 0, 1+len(suffix)+len(tweak))
	t = append(t, byte(len(suffix)))
	t = append(t, suffix...)
	t = append(t, tweak...)
	var out string
	var err error
	if decrypt {
		out, err = c.Decrypt(head, t)
	} else {
		out, err = c.Encrypt(head, t)
	}
	if err != nil {
		return "", err // FF1's error names lengths and positions, never characters.
	}
	return out + suffix, nil
}

// cipher returns the FF1 cipher of key keyID, or of the primary key when
// primary is set, and the key ID it used.
func (f *FPE) cipher(ctx context.Context, keyID uint32, primary bool) (*FF1, uint32, error) {
	ks, err := f.provider.Keyset(ctx, f.keyName, keys.KindPRF)
	if err != nil {
		return nil, 0, fmt.Errorf("tokenize: domain %q: %w", f.domain, err)
	}
	if primary {
		keyID = ks.PrimaryKeyID()
	}
	if err := ks.CheckKeyID(keyID); err != nil {
		return nil, 0, fmt.Errorf("tokenize: domain %q: %w", f.domain, err)
	}
	c := f.cache.Load()
	if c == nil || c.ks != ks {
		c = &fpeCache{ks: ks, ciphers: make(map[uint32]*FF1)}
		f.cache.Store(c)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ff := c.ciphers[keyID]; ff != nil {
		return ff, keyID, nil
	}
	set, err := ks.PRF()
	if err != nil {
		return nil, 0, fmt.Errorf("tokenize: domain %q: %w", f.domain, err)
	}
	p, ok := set.PRFs[keyID]
	if !ok {
		return nil, 0, fmt.Errorf("tokenize: domain %q: PRF keyset has no enabled key %d: %w", f.domain, keyID, keys.ErrKeyNotFound)
	}
	key, err := p.ComputePRF([]byte(ff1KeyLabel+f.domain), FF1KeySize)
	if err != nil {
		return nil, 0, fmt.Errorf("tokenize: domain %q: deriving the FF1 key: %v", f.domain, err)
	}
	ff, err := NewFF1(key, f.alphabet)
	if err != nil {
		return nil, 0, err
	}
	c.ciphers[keyID] = ff
	return ff, keyID, nil
}
