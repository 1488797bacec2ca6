package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/tillid/tillid/keys"
)

// Protector protects and reveals the tagged fields of structs. It is safe
// for concurrent use by many goroutines, but one struct must not be passed
// to two calls at once.
type Protector struct {
	provider   keys.Provider
	extraAD    []byte
	legacy     sync.Map // "Type.Field" → *atomic.Uint64
	tokenizers map[string]tokenizer
	// parallelism is the most goroutines a call on a large slice uses.
	parallelism int
	// lastPlan is the plan of the type passed last: most callers pass one
	// type again and again, and a pointer compare beats the type cache.
	lastPlan atomic.Pointer[typePlan]
	// subjectKeys seals the fields of structs with a subject field, and
	// erasedText is what Reveal puts in an erased string (erasure.go).
	subjectKeys *keys.SubjectKeys
	erasedText  string
}

// Option configures a Protector. Options are made by the With… functions of
// this package.
type Option interface {
	apply(*Protector) error
}

type optionFunc func(*Protector) error

func (f optionFunc) apply(p *Protector) error { return f(p) }

// WithAssociatedData adds associatedData to the associated data of every
// ciphertext the Protector makes and checks, after the type, field and
// record ID the library binds itself. Use it to bind values to a tenant or an
// application; a Protector with other associated data cannot reveal them.
// The bytes are copied. Associated data is authenticated, not secret.
func WithAssociatedData(associatedData []byte) Option {
	b := append([]byte(nil), associatedData...)
	return optionFunc(func(p *Protector) error {
		p.extraAD = b
		return nil
	})
}

// New returns a Protector that takes its keys from provider. It returns an
// error wrapping [ErrKeyProvider] when provider is nil.
func New(provider keys.Provider, opts ...Option) (*Protector, error) {
	if provider == nil {
		return nil, fmt.Errorf("%w: nil provider", ErrKeyProvider)
	}
	if rv := reflect.ValueOf(provider); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, fmt.Errorf("%w: nil %T (did opening the key store fail?)", ErrKeyProvider, provider)
	}
	p := &Protector{provider: provider}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("pii: nil Option")
		}
		if err := o.apply(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Protect transforms, in place, every tagged field reachable from ptr: a
// pointer to a struct, or to a slice, array or map of structs. encrypt
// fields get a randomised ciphertext, deterministic fields a deterministic
// one, redact fields their zero value. Values already protected by tillid
// for the same field are left as they are, so protecting twice never
// encrypts twice; a value that carries a tillid prefix but does not verify
// for its field is an error ([ErrDecryption]): a ciphertext must decrypt,
// a pseudonym or blind index must have the field's size and a key ID of its
// keyset, a token must detokenize. See [WithParallelism] for large slices. Nil pointers, nil maps,
// nil slices, invalid sql.NullStrings and null Values stay as they are; an
// empty string is encrypted, so its presence is kept.
//
// Protect is all or nothing: when it returns an error, *ptr is unchanged.
// It returns [ErrInvalidTarget], [ErrInvalidTag], [ErrMissingRecordID],
// [ErrTooLong], [ErrKeyProvider], [ErrDecryption], [ErrKeyDisabled],
// [ErrKeyNotFound], [ErrTooDeep], for structs with a subject field
// [ErrErased] and [ErrMissingSubject] (see [WithSubjectKeys]), or ctx's
// error, most wrapped in a [*FieldError]. The provider is called with ctx.
//
// String fields receive the text envelope and []byte fields the raw one; see
// [StoredLen] for their sizes. Each ciphertext is bound through associated
// data to the declaring struct type's name, the field's name, the aad= field's
// value when the tag has one, and the Protector's [WithAssociatedData].
func (p *Protector) Protect(ctx context.Context, ptr any) error {
	_, err := p.do(ctx, ptr, verbProtect)
	return err
}

// Reveal reverses Protect in place: encrypt and deterministic fields get
// their plaintext back, byte for byte; redact fields stay as they are. It
// fails closed: plaintext in a protected field is [ErrNotProtected] (unless
// its tag has the migrate option, in which case it is left as it is and
// counted in [Protector.Stats]), and a tampered, truncated or moved
// ciphertext is [ErrDecryption]. A ciphertext under a disabled, destroyed or
// unknown key is [ErrKeyDisabled], [ErrKeyDestroyed] or [ErrKeyNotFound].
//
// Reveal is all or nothing, like Protect, and returns the same errors.
func (p *Protector) Reveal(ctx context.Context, ptr any) error {
	_, err := p.do(ctx, ptr, verbReveal)
	return err
}

// Rewrap re-encrypts, in place, every protected value whose key is not the
// current primary key of its keyset, without handing plaintext to the
// caller: encrypt and deterministic ciphertexts, blind indexes (recomputed
// from their sources) and FF1 tokens. It returns how many values it changed.
// Pseudonyms and vaulted tokens cannot be recomputed without the original
// and stay as they are (once verified as Protect verifies them). Run it
// over stored records after a rotation; once every record is rewrapped, the
// old key can be disabled (a pseudonym stays valid under a disabled key). Plaintext in a migrate field is protected; plaintext
// elsewhere is [ErrNotProtected]. Values of a struct with a subject field
// stored before it had one ("tl1e:", "tl1d:") move under the subject's
// keys, which Rewrap makes as Protect does: also for a subject allowed
// again ([Protector.Allow]) after an erasure, never for one erased and not
// allowed ([ErrErased]). It is all or nothing and returns the errors of
// Reveal.
func (p *Protector) Rewrap(ctx context.Context, ptr any) (int, error) {
	return p.do(ctx, ptr, verbRewrap)
}

// Stats reports counters of a Protector.
type Stats struct {
	// LegacyPlaintextReads counts, per "Type.Field", the plaintext values that
	// Reveal let through because the field's tag has the migrate option.
	LegacyPlaintextReads map[string]uint64
}

// Stats returns a snapshot of the Protector's counters.
func (p *Protector) Stats() Stats {
	s := Stats{LegacyPlaintextReads: map[string]uint64{}}
	if p == nil {
		return s
	}
	p.legacy.Range(func(k, v any) bool {
		s.LegacyPlaintextReads[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return s
}
