package pii

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tillid/tillid/tokenize"
)

// Stored forms of tokenize= fields. Tokens keep their format inside the
// field, behind a 5-byte prefix that says they are tokens, so that Protect
// stays idempotent and Reveal fails closed even for formats whose tokens
// look like real values (random digits, card-shaped tokens):
//
//	vaulted:  "tl1t:" || token
//	FF1:      "tl1f:" || key ID (8 lower-case hex digits) || ":" || token
//
// [Token] strips the prefix for systems that want the bare token.
const (
	vaultPrefix = "tl1t:"
	fpePrefix   = "tl1f:"
)

// tokenizer is one tokenize= domain as pii uses it.
type tokenizer interface {
	format() string
	tokenize(ctx context.Context, value string, recordID []byte) (string, error)
	detokenize(ctx context.Context, stored string, recordID []byte) (value string, stale bool, err error)
}

// WithVault makes the tokenize=<domain> fields of the Tokenizer's domain use
// it: Protect stores "tl1t:" followed by a token from the vault, Reveal
// looks the value up. With aad= on the field, the record ID is registered
// as the token's data subject, so that Tokenizer.DeleteSubject erases it.
// Tokenizing writes to the vault at once: when a Protect fails after some
// fields were tokenized, their vault entries stay (a consistent tokenizer
// hands the same tokens out again; random-mode entries are removed by the
// tokenizer's TTL and Purge). It returns an error when t is nil or its
// domain already has a tokenizer.
func WithVault(t *tokenize.Tokenizer) Option {
	return optionFunc(func(p *Protector) error {
		if t == nil {
			return errors.New("pii: WithVault(nil)")
		}
		return p.addTokenizer(t.Domain(), vaultTokenizer{t})
	})
}

// WithFPE makes the tokenize=<domain> fields of the FPE's domain use FF1
// format-preserving encryption: Protect stores "tl1f:", the key ID and the
// token; Reveal decrypts it. The tweak binds each token to its type and
// field, and with aad= to the record ID, so equal values in other fields or
// records get other tokens. FF1 does not authenticate: a token altered in
// storage reveals to a wrong value, not an error. It returns an error when f
// is nil or its domain already has a tokenizer.
func WithFPE(f *tokenize.FPE) Option {
	return optionFunc(func(p *Protector) error {
		if f == nil {
			return errors.New("pii: WithFPE(nil)")
		}
		return p.addTokenizer(f.Domain(), fpeTokenizer{f})
	})
}

func (p *Protector) addTokenizer(domain string, t tokenizer) error {
	if p.tokenizers == nil {
		p.tokenizers = map[string]tokenizer{}
	}
	if _, ok := p.tokenizers[domain]; ok {
		return fmt.Errorf("pii: two tokenizers for domain %q", domain)
	}
	p.tokenizers[domain] = t
	return nil
}

// Token returns the bare token held in a stored tokenize= value, and false
// when stored is not one.
func Token(stored string) (string, bool) {
	if tok, ok := strings.CutPrefix(stored, vaultPrefix); ok {
		return tok, true
	}
	if rest, ok := strings.CutPrefix(stored, fpePrefix); ok && len(rest) > 9 && rest[8] == ':' {
		return rest[9:], true
	}
	return "", false
}

type vaultTokenizer struct{ t *tokenize.Tokenizer }

func (v vaultTokenizer) format() string { return v.t.Format().String() }

func (v vaultTokenizer) tokenize(ctx context.Context, value string, recordID []byte) (string, error) {
	var opts []tokenize.TokenOption
	if len(recordID) > 0 {
		opts = append(opts, tokenize.ForSubject(string(recordID)))
	}
	tok, err := v.t.Tokenize(ctx, value, opts...)
	if err != nil {
		return "", err
	}
	return vaultPrefix + tok, nil
}

func (v vaultTokenizer) detokenize(ctx context.Context, stored string, _ []byte) (string, bool, error) {
	tok, ok := strings.CutPrefix(stored, vaultPrefix)
	if !ok || tok == "" {
		return "", false, ErrDecryption
	}
	val, err := v.t.Detokenize(ctx, tok)
	return val, false, err
}

type fpeTokenizer struct{ f *tokenize.FPE }

func (f fpeTokenizer) format() string { return f.f.Format() }

func (f fpeTokenizer) tokenize(ctx context.Context, value string, tweak []byte) (string, error) {
	tok, keyID, err := f.f.Tokenize(ctx, value, tweak)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%08x:%s", fpePrefix, keyID, tok), nil
}

func (f fpeTokenizer) detokenize(ctx context.Context, stored string, tweak []byte) (string, bool, error) {
	rest, ok := strings.CutPrefix(stored, fpePrefix)
	if !ok || len(rest) < 10 || rest[8] != ':' {
		return "", false, ErrDecryption
	}
	keyID, err := strconv.ParseUint(rest[:8], 16, 32)
	if err != nil || strings.ToLower(rest[:8]) != rest[:8] {
		return "", false, ErrDecryption
	}
	val, err := f.f.Detokenize(ctx, rest[9:], uint32(keyID), tweak)
	return val, false, err
}

// tokenLeaf handles a leaf of a tokenize= field.
func (r *run) tokenLeaf(in string) (out string, changed bool, err error) {
	f := r.cur
	t, ok := r.p.tokenizers[f.tag.domain]
	if !ok {
		return "", false, fmt.Errorf("%w: no tokenizer for domain %q; build the Protector with pii.WithVault or pii.WithFPE", ErrKeyProvider, f.tag.domain)
	}
	if f.tag.format != "" && f.tag.format != t.format() {
		return "", false, fmt.Errorf("%w: the tag says format=%s but domain %q makes %s tokens", ErrInvalidTag, f.tag.format, f.tag.domain, t.format())
	}
	var rid []byte
	if f.recordIndex >= 0 {
		b, ok, err := recordID(r.parent.Field(f.recordIndex))
		if err != nil || !ok {
			return "", false, fmt.Errorf("%w: field %s must be set before the value can be bound to its record", ErrMissingRecordID, f.tag.aadField)
		}
		rid = b
	}
	tweak := rid
	if _, isFPE := t.(fpeTokenizer); isFPE {
		tweak = append(append([]byte(nil), f.adPrefix...), rid...)
	}
	protected := strings.HasPrefix(in, vaultPrefix) || strings.HasPrefix(in, fpePrefix)
	switch r.mode {
	case modeProtect:
		if protected {
			if _, _, err := t.detokenize(r.ctx, in, tweak); err != nil {
				return "", false, fmt.Errorf("%w: the value carries a token prefix but is not a token of domain %q: %w", ErrDecryption, f.tag.domain, tokenErr(err))
			}
			return "", false, nil
		}
		out, err := t.tokenize(r.ctx, in, tweak)
		if err != nil {
			return "", false, tokenErr(err)
		}
		return out, true, nil
	case modeReveal:
		if !protected {
			if f.tag.migrate {
				r.countLegacy()
				return "", false, nil
			}
			return "", false, ErrNotProtected
		}
		val, _, err := t.detokenize(r.ctx, in, tweak)
		if err != nil {
			return "", false, tokenErr(err)
		}
		return val, true, nil
	default: // modeRewrap: FF1 tokens move to the primary key; vault tokens stay.
		if !protected {
			if f.tag.migrate {
				out, err := t.tokenize(r.ctx, in, tweak)
				return out, err == nil, tokenErr(err)
			}
			return "", false, ErrNotProtected
		}
		if !strings.HasPrefix(in, fpePrefix) {
			return "", false, nil
		}
		val, _, err := t.detokenize(r.ctx, in, tweak)
		if err != nil {
			return "", false, tokenErr(err)
		}
		out, err := t.tokenize(r.ctx, val, tweak)
		if err != nil {
			return "", false, tokenErr(err)
		}
		return out, out != in, nil
	}
}

// tokenErr maps tokenize's errors onto pii's sentinels, keeping both.
func tokenErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tokenize.ErrTokenNotFound), errors.Is(err, tokenize.ErrDecryption):
		return fmt.Errorf("%w: %w", ErrDecryption, err)
	case errors.Is(err, tokenize.ErrInvalidValue):
		return fmt.Errorf("%w: %w", ErrInvalidValue, err)
	}
	return err
}

// ErrInvalidValue means a value cannot be tokenized in its domain's format:
// empty, too short or too long, or with characters outside its alphabet.
var ErrInvalidValue = errors.New("pii: value does not fit the token format")
