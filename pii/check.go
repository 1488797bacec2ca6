package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/tillid/tillid/keys"
)

// Check is the start-up check of the Protector for the types it will
// handle (values, pointers or reflect.Types of structs, as [Validate]
// takes): run it once before serving, so that a wrong key store, key name,
// KEK or tokenizer fails at start-up instead of at the first request.
//
// It plans each type and every struct type reachable from it through
// static types (interface fields are walked at run time and not checked),
// and fails with [ErrInvalidTag] (a [FieldError]) when a plan does not
// build or a tokenize=<domain> field has no tokenizer for its domain on
// the Protector (WithVault, WithFPE). It then lists the keysets the fields
// use: {key= or "default", keys.KindAEAD} for encrypt,
// keys.KindDeterministicAEAD for deterministic, keys.KindPRF for index
// and pseudonym; the subject keys' wrapping and pseudonym keysets
// (keys.SubjectKeys.Keysets) when a field is sealed under subject keys or
// a tokenize field is bound to a subject; and each tokenize domain's
// keysets (tokenize.Tokenizer.Keysets, tokenize.FPE.Keysets). It checks
// them with keys.Check against the provider that serves each (the
// Protector's, the subject keys', the tokenizer's), so every keyset is
// read and unwrapped once and its primitive tried once.
//
// A failing key check returns one error wrapping [ErrKeyProvider] and
// keys.Check's joined errors (errors.Is finds keys.ErrKeysetNotFound,
// keys.ErrKMSUnavailable, keys.ErrWrongKEK and the others); a type that
// needs subject keys on a Protector without [WithSubjectKeys] is
// ErrKeyProvider too. No types is an error ([ErrInvalidTarget]). Errors
// name types, fields, domains and keysets, never values or key material.
// Check neither reads nor writes the token vault nor the subject key store.
// It is safe for concurrent use.
func (p *Protector) Check(ctx context.Context, types ...any) error {
	if p == nil || p.provider == nil {
		return fmt.Errorf("%w: nil Protector; use pii.New", ErrInvalidTarget)
	}
	if len(types) == 0 {
		return fmt.Errorf("%w: Check of no types; pass the types the service protects", ErrInvalidTarget)
	}
	c := checkNeeds{seen: map[*typePlan]bool{}}
	for _, v := range types {
		if err := Validate(v); err != nil {
			return err
		}
		t, ok := v.(reflect.Type)
		if !ok {
			t = reflect.TypeOf(v)
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if err := c.plan(p, planFor(t)); err != nil {
			return err
		}
	}
	var errs []error
	if len(c.ids) > 0 {
		errs = append(errs, keys.Check(ctx, p.provider, c.ids...))
	}
	if c.subjects {
		if p.subjectKeys == nil {
			return fmt.Errorf("%w: the types have subject fields but the Protector has no subject keys; build it with pii.WithSubjectKeys", ErrKeyProvider)
		}
		errs = append(errs, p.subjectKeys.Check(ctx))
	}
	for _, domain := range c.domains {
		errs = append(errs, p.tokenizers[domain].check(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: start-up check: %w", ErrKeyProvider, err)
	}
	return nil
}

// checkNeeds gathers what Check checks.
type checkNeeds struct {
	seen     map[*typePlan]bool
	ids      []keys.KeysetID
	domains  []string
	subjects bool
}

// plan adds the needs of the struct plan tp and of the structs it reaches.
func (c *checkNeeds) plan(p *Protector, tp *typePlan) error {
	if tp == nil || c.seen[tp] {
		return nil
	}
	c.seen[tp] = true
	if len(tp.needs) > 0 {
		c.subjects = true
	}
	for _, f := range tp.fields {
		if f.act != nil {
			if err := c.field(p, f); err != nil {
				return err
			}
		}
		for n := f.node; n != nil; n = n.elem {
			if n.kind == nodeStruct {
				if err := c.plan(p, n.plan); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// field adds the needs of one tagged field.
func (c *checkNeeds) field(p *Protector, f *fieldPlan) error {
	if f.act == tokenizeAction {
		if _, ok := p.tokenizers[f.tag.domain]; !ok {
			return noTokenizer(f)
		}
		if !slices.Contains(c.domains, f.tag.domain) {
			c.domains = append(c.domains, f.tag.domain)
		}
		return nil
	}
	if f.subjectKeyed() || f.act.keyKind == keys.KindUnknown {
		return nil // the subject keys are checked as a whole
	}
	if id := f.keysetID(); !slices.Contains(c.ids, id) {
		c.ids = append(c.ids, id)
	}
	return nil
}

// noTokenizer is the configuration error of a tokenize= field whose
// domain has no tokenizer on the Protector, from Check and from Protect.
func noTokenizer(f *fieldPlan) error {
	return fmt.Errorf("%w: field %s is tagged tokenize=%s but the Protector has no tokenizer for domain %q; build it with pii.WithVault or pii.WithFPE for that domain", ErrInvalidTag, f.name, f.tag.domain, f.tag.domain)
}
