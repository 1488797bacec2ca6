package pii

import (
	"slices"
	"time"

	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/tokenize"
)

// Stored forms of tokenize= fields. Tokens keep their format inside the
// field, behind a 5-byte prefix that says they are tokens, so that Protect
// stays idempotent and Reveal fails closed even for formats whose tokens
// look like real values (random digits, card-shaped tokens):
//
//	vaulted:  "tl1t:" || token
//	FF1:      "tl1f:" || key ID (8 lower-case hex digits) || ":" || token
//	empty:    "tl1t:" or "tl1f:" alone (an empty string has no token)
//
// [Token] strips the prefix for systems that want the bare token.
var (
	vaultPrefix = envelope.Prefix(envelope.ModeVaultToken)
	fpePrefix   = envelope.Prefix(envelope.ModeFF1Token)
)

// tokenizeAction replaces the value with a token of its domain's
// tokenizer (WithVault, WithFPE), behind a token prefix of
// internal/envelope. Only string fields take it. Under Forget: in a struct
// with a subject field, vaulted tokens are registered for that subject and
// Forget deletes them (Reveal then gives the field its zero value); FF1
// tokens are not under subject keys and [Protector.Erase] clears them.
var tokenizeAction = &action{
	name: "tokenize",
	id:   ActionTokenize,
	check: func(b *planBuilder, _ *typePlan, t reflect.Type, f *fieldPlan) (*node, error) {
		return b.leafNode(t, f, leafShapes{})
	},
	protect:   tokenLeaf,
	reveal:    tokenLeaf,
	rewrap:    tokenLeaf,
	recognise: func(in []byte) bool { return envelope.HasTokenPrefix(unsafeString(in)) },
	verify:    verifyToken,
	size:      func(int, bool) int { return -1 },
	keyIDOf: func(stored []byte, text bool) (uint32, bool) {
		t, err := envelope.ParseToken(unsafeString(stored))
		return t.KeyID, text && err == nil
	},
	redacts: true,
}

// tokenizer is one tokenize= domain as pii uses it.
type tokenizer interface {
	format() string
	tokenize(ctx context.Context, value string, recordID []byte) (string, error)
	detokenize(ctx context.Context, stored string, recordID []byte) (value string, stale bool, err error)
	// check is the start-up check of the tokenizer's keysets.
	check(ctx context.Context) error
}

// WithVault makes the tokenize=<domain> fields of the Tokenizer's domain use
// it: Protect stores "tl1t:" followed by a token from the vault, Reveal
// looks the value up. With aad= on the field, the record ID is registered
// as the token's data subject, so that Tokenizer.DeleteSubject erases it;
// it is not checked on Reveal: a vault token is bound to its domain only,
// and reveals wherever it is copied (what binds it is who can read the
// vault).
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

// Token returns the bare token held in a stored tokenize= value ("" for a
// stored empty value), and false when stored is not one. Because an empty
// value is stored as the bare prefix, a plaintext that is exactly "tl1t:"
// or "tl1f:" in a tokenize= field reads back as empty.
func Token(stored string) (string, bool) {
	t, err := envelope.ParseToken(stored)
	return t.Token, err == nil
}

type vaultTokenizer struct{ t *tokenize.Tokenizer }

func (v vaultTokenizer) format() string { return v.t.Format().String() }

func (v vaultTokenizer) check(ctx context.Context) error { return v.t.Check(ctx) }

func (v vaultTokenizer) tokenize(ctx context.Context, value string, recordID []byte) (string, error) {
	var opts []tokenize.TokenOption
	if len(recordID) > 0 {
		opts = append(opts, tokenize.ForSubject(string(recordID)))
	}
	tok, err := v.t.Tokenize(ctx, value, opts...)
	if err != nil {
		return "", err
	}
	return string(envelope.AppendToken(nil, envelope.Token{Mode: envelope.ModeVaultToken, Token: tok})), nil
}

func (v vaultTokenizer) detokenize(ctx context.Context, stored string, _ []byte) (string, bool, error) {
	t, err := envelope.ParseToken(stored)
	if err != nil || t.Mode != envelope.ModeVaultToken || t.Token == "" {
		return "", false, ErrDecryption
	}
	val, err := v.t.Detokenize(ctx, t.Token)
	return val, false, err
}

type fpeTokenizer struct{ f *tokenize.FPE }

func (f fpeTokenizer) format() string { return f.f.Format() }

func (f fpeTokenizer) check(ctx context.Context) error { return f.f.Check(ctx) }

func (f fpeTokenizer) tokenize(ctx context.Context, value string, tweak []byte) (string, error) {
	tok, keyID, err := f.f.Tokenize(ctx, value, tweak)
	if err != nil {
		return "", err
	}
	return string(envelope.AppendToken(nil, envelope.Token{Mode: envelope.ModeFF1Token, KeyID: keyID, Token: tok})), nil
}

func (f fpeTokenizer) detokenize(ctx context.Context, stored string, tweak []byte) (string, bool, error) {
	t, err := envelope.ParseToken(stored)
	if err != nil || t.Mode != envelope.ModeFF1Token || t.Token == "" {
		return "", false, ErrDecryption
	}
	val, err := f.f.Detokenize(ctx, t.Token, t.KeyID, tweak)
	return val, false, err
}

// tokenLeaf is the leaf function of tokenize= fields, for every verb.
func tokenLeaf(r *run, in []byte, _ bool) ([]byte, bool, error) {
	out, changed, err := r.tokenLeaf(unsafeString(in))
	return unsafeBytes(out), changed, err
}

// verifyToken checks a stored FF1 token of the current field before
// Protect keeps it: its key ID is in the domain's keyset and it decrypts
// under the field's tweak to a value of the domain's format (FF1 does not
// authenticate, so this is as far as it can be checked). Vaulted tokens
// are checked against the vault in one batch, by resolveTokens.
func verifyToken(r *run, in []byte, _ bool) error {
	t, tweak, err := r.tokenizer()
	if err != nil {
		return err
	}
	if _, _, err := t.detokenize(r.ctx, unsafeString(in), tweak); err != nil {
		return fmt.Errorf("%w: the value carries a token prefix but is not a token of domain %q: %w", ErrDecryption, r.cur.tag.domain, tokenErr(err))
	}
	return nil
}

// tokenizer returns the current field's tokenizer and the tweak that binds
// its FF1 tokens (the record ID for vaulted tokens' subjects).
func (r *run) tokenizer() (tokenizer, []byte, error) {
	f := r.cur
	t, ok := r.p.tokenizers[f.tag.domain]
	if !ok {
		return nil, nil, noTokenizer(f)
	}
	if f.tag.format != "" && f.tag.format != t.format() {
		return nil, nil, fmt.Errorf("%w: the tag says format=%s but domain %q makes %s tokens", ErrInvalidTag, f.tag.format, f.tag.domain, t.format())
	}
	var rid []byte
	if f.recordIndex >= 0 {
		b, ok, err := recordID(r.parent.Field(f.recordIndex))
		if err != nil || !ok {
			return nil, nil, fmt.Errorf("%w: field %s must be set before the value can be bound to its record", ErrMissingRecordID, f.tag.aadField)
		}
		rid = b
	}
	if _, isVault := t.(vaultTokenizer); isVault && f.subject != nil {
		// In a struct with a subject field, vault tokens are registered for
		// that subject, so that Forget deletes them.
		subject, err := r.subjectID()
		if err != nil {
			return nil, nil, err
		}
		if r.verb == verbProtect {
			if err := r.subjectBaseErr(); err != nil {
				return nil, nil, err // a forgotten subject gets no new tokens
			}
		}
		rid = unsafeBytes(subject)
	}
	if _, isFPE := t.(fpeTokenizer); isFPE {
		tweak := ff1Tweak(f.adPrefix, rid)
		if len(tweak) > tokenize.FPEMaxTweakSize {
			return nil, nil, fmt.Errorf("%w: with the record ID of %s, the FF1 tweak (type and field names, then the record ID) is %d bytes, more than %d", ErrTooLong, f.tag.aadField, len(tweak), tokenize.FPEMaxTweakSize)
		}
		return t, tweak, nil
	}
	return t, rid, nil
}

// tokenLeaf handles a leaf of a tokenize= field.
func (r *run) tokenLeaf(in string) (out string, changed bool, err error) {
	f := r.cur
	t, tweak, err := r.tokenizer()
	if err != nil {
		return "", false, err
	}
	// An empty value has no token: it is stored as the bare prefix, so that
	// "" stays distinct from an absent value, as in encrypted fields.
	prefix := vaultPrefix
	if _, isFPE := t.(fpeTokenizer); isFPE {
		prefix = fpePrefix
	}
	switch {
	case in == prefix:
		return "", r.verb == verbReveal, nil
	case in == "" && r.verb == verbProtect:
		return prefix, true, nil
	}
	protected := f.act.recognise(unsafeBytes(in))
	if !protected {
		if err := misplaced(unsafeBytes(in)); err != nil {
			return "", false, err
		}
	}
	if vt, ok := t.(vaultTokenizer); ok && (r.verb != verbRewrap) {
		return r.deferVault(vt, in, protected, tweak)
	}
	switch r.verb {
	case verbProtect:
		if protected {
			return "", false, f.act.verify(r, unsafeBytes(in), true)
		}
		out, err := t.tokenize(r.ctx, in, tweak)
		if err != nil {
			return "", false, tokenErr(err)
		}
		return out, true, nil
	case verbReveal:
		if !protected {
			return "", false, r.legacyPlaintext()
		}
		val, _, err := t.detokenize(r.ctx, in, tweak)
		if err != nil {
			return "", false, tokenErr(err)
		}
		return val, true, nil
	default: // verbRewrap: FF1 tokens move to the primary key; vault tokens stay.
		if !protected {
			if f.tag.migrate {
				out, err := t.tokenize(r.ctx, in, tweak)
				return out, err == nil, tokenErr(err)
			}
			return "", false, ErrNotProtected
		}
		if !strings.HasPrefix(in, fpePrefix) {
			if _, isFPE := t.(fpeTokenizer); isFPE {
				return "", false, misplaced(unsafeBytes(in)) // a vault token in an FF1 field
			}
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

// ErrInvalidValue means a value cannot be protected as it is: it does not
// fit its token domain's format (too short or too long, characters outside
// the alphabet), or its type's marshaller failed.
var ErrInvalidValue = errors.New("pii: value cannot be encoded or tokenized")

// pendingToken is a vault call deferred to one batch per domain, made after
// the walk and before any change is applied.
type pendingToken struct {
	vault   vaultTokenizer
	value   string // Protect: the plaintext, or the bare token to verify; Reveal: the bare token
	subject string
	verify  bool // Protect of a value that already holds a token: only check it
	op      int  // index in run.ops of the op to fill
	path    string
	typ     reflect.Type
	// expiresAt is the end of the field's retention period, or zero.
	expiresAt time.Time
	// shredded is set in Reveal when the token's subject was forgotten and
	// allowed again: a token missing from the vault is one Forget deleted.
	shredded bool
}

// errDeferred tells stringLeaf that the op was queued by deferVault.
var errDeferred = errors.New("pii: deferred")

// deferVault queues the vault work of one leaf. In Protect a plaintext is
// queued for TokenizeBatch and a stored token for a DetokenizeBatch check;
// in Reveal a stored token is queued for DetokenizeBatch.
func (r *run) deferVault(vt vaultTokenizer, in string, protected bool, rid []byte) (string, bool, error) {
	if r.verb == verbReveal && protected && r.cur.subject != nil && r.subjectErased() {
		return "", false, errErasedLeaf // Forget deleted the subject's tokens
	}
	pt := pendingToken{vault: vt, subject: string(rid), path: r.pathString(), typ: r.parent.Type(), expiresAt: r.retentionEnd()}
	pt.shredded = r.verb == verbReveal && protected && r.cur.subject != nil && r.subjectShredded()
	if protected && tokenExpired(vt, pt.expiresAt) {
		return "", false, r.expiredToken() // its vault entry expired with the rule
	}
	switch {
	case protected:
		tok, ok := strings.CutPrefix(in, vaultPrefix)
		if !ok || tok == "" {
			if r.verb == verbProtect {
				return "", false, fmt.Errorf("%w: the value carries a token prefix but is not a token of domain %q", ErrDecryption, r.cur.tag.domain)
			}
			return "", false, ErrDecryption
		}
		pt.value, pt.verify = tok, r.verb == verbProtect
	case r.verb == verbProtect:
		pt.value = in
	default: // Reveal of plaintext
		return "", false, r.legacyPlaintext()
	}
	// Reserve the op now, so that it stays before the map write of an
	// enclosing map value; resolveTokens fills it in.
	pt.op = r.reserve()
	r.tokens = append(r.tokens, pt)
	return "", false, errDeferred
}

// resolveTokens makes the queued vault calls, one batch per tokenizer and
// kind of call, and fills in the queued ops.
func (r *run) resolveTokens() error {
	type group struct {
		vault  vaultTokenizer
		verify bool
		idx    []int
	}
	var groups []*group
	for i, pt := range r.tokens {
		var g *group
		for _, x := range groups {
			if x.vault == pt.vault && x.verify == (pt.verify || r.verb == verbReveal) {
				g = x
			}
		}
		if g == nil {
			g = &group{vault: pt.vault, verify: pt.verify || r.verb == verbReveal}
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	for _, g := range groups {
		for start := 0; start < len(g.idx); start += tokenize.MaxBatchSize {
			chunk := g.idx[start:min(start+tokenize.MaxBatchSize, len(g.idx))]
			first := r.tokens[chunk[0]]
			var out []string
			var err error
			if g.verify {
				toks := make([]string, len(chunk))
				for j, i := range chunk {
					toks[j] = r.tokens[i].value
				}
				out, err = g.vault.t.DetokenizeBatch(r.ctx, toks)
				for err != nil && r.verb == verbReveal {
					// A token Forget deleted, of a subject allowed again
					// since: erased, like a value under a destroyed key.
					var ie *tokenize.ItemError
					if !errors.As(err, &ie) || ie.Index < 0 || ie.Index >= len(chunk) || !errors.Is(err, tokenize.ErrTokenNotFound) || !r.tokens[chunk[ie.Index]].shredded {
						break
					}
					pt := r.tokens[chunk[ie.Index]]
					r.subjects.erased = append(r.subjects.erased, pt.path)
					r.fillString(pt.op, r.tokenTargets[chunk[ie.Index]], r.p.erasedText)
					chunk = slices.Delete(slices.Clone(chunk), ie.Index, ie.Index+1)
					toks = slices.Delete(toks, ie.Index, ie.Index+1)
					if len(chunk) == 0 {
						out, err = nil, nil
						break
					}
					out, err = g.vault.t.DetokenizeBatch(r.ctx, toks)
				}
			} else {
				items := make([]tokenize.Item, len(chunk))
				for j, i := range chunk {
					items[j] = tokenize.Item{Value: r.tokens[i].value, Subject: r.tokens[i].subject, ExpiresAt: r.tokens[i].expiresAt}
				}
				out, err = g.vault.t.TokenizeBatch(r.ctx, items)
			}
			if err != nil {
				var ie *tokenize.ItemError
				if errors.As(err, &ie) && ie.Index >= 0 && ie.Index < len(chunk) {
					first = r.tokens[chunk[ie.Index]] // name the failing element
				}
				err = tokenErr(err)
				if r.verb == verbProtect && g.verify {
					err = fmt.Errorf("%w: a value carries a token prefix but is not a token of domain %q: %w", ErrDecryption, g.vault.t.Domain(), err)
				}
				return &FieldError{Type: first.typ, Path: first.path, Err: err}
			}
			for j, i := range chunk {
				pt := r.tokens[i]
				switch {
				case r.verb == verbReveal:
					r.fillString(pt.op, r.tokenTargets[i], out[j])
				case !pt.verify:
					r.fillString(pt.op, r.tokenTargets[i], vaultPrefix+out[j])
				}
			}
		}
	}
	return nil
}
