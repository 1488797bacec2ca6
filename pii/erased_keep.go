package pii

import (
	"errors"

	"github.com/tillid/tillid/keys"
)

// This file is what Protect and Reveal do with the value of a field whose
// subject key (for its purpose) was erased by Forget or Withdraw, so that
// a record read back after an erasure can be saved again. It never fails
// open: each case applies only where the store holds a tombstone of the
// key, and a new value for an erased purpose still fails with ErrErased.

// currentKeyErased reports whether the current field is sealed under a
// subject key that the store holds a tombstone for. It looks the key up
// in the run's batch (fetching it only when the batch lacks it, which for
// Protect of an erased key creates nothing).
func (r *run) currentKeyErased() bool {
	if !r.cur.subjectKeyed() || !r.parent.IsValid() {
		return false
	}
	if _, ok := subjectIDOf(r.parent.Field(r.cur.subject.index)); !ok {
		return false
	}
	_, err := r.subjectKeyset()
	return errors.Is(err, keys.ErrErased)
}

// keepErasedPlain reports whether Protect keeps the plaintext in of the
// current field as it is, needing no key: it is empty ("", an empty
// []byte) and the field's key is erased, so there is nothing to seal and
// no key to seal it under. With fallback it also reports whether in is
// the Protector's WithErasedValue text, which Reveal put in a string
// field of an erased key: Protect stores the zero value for it instead.
func (r *run) keepErasedPlain(in []byte, text bool) (keep, fallback bool) {
	isFallback := text && r.p.erasedText != "" && string(in) == r.p.erasedText && r.cur.stringLeaf()
	if len(in) != 0 && !isFallback {
		return false, false
	}
	if !r.currentKeyErased() {
		return false, false
	}
	return true, isFallback
}

// keepErasedSealed reports whether Protect may save the current field,
// whose stored value in failed verification with err, as erased: its key
// was erased (the subject key's tombstone, or a key ID the subject's
// keyset had destroyed), so it is crypto-shredded. Protect then stores the
// field's zero value in its place (never in itself, which cannot be
// verified and could be anything shaped like an envelope), and Reveal
// reads that as erased. The envelope must still parse in the field's mode;
// a value under a key the store never saw, or one that does not
// authenticate under a live key, still fails.
func (r *run) keepErasedSealed(in []byte, text bool, err error) bool {
	if !r.cur.subjectKeyed() || !errors.Is(err, keys.ErrErased) {
		return false
	}
	_, perr := r.parseEnvelope(in, text)
	return perr == nil
}

// revealErasedEmpty reports whether Reveal reports the empty plaintext of
// the current field as erased rather than ErrNotProtected (and Rewrap
// leaves it, with nothing to re-encrypt): Protect keeps
// an empty value of an erased key as it is (keepErasedPlain), so the
// store holding the key's tombstone is what tells it from plaintext that
// was never protected.
//
// After Allow the key is live again, and its new keyset knows of the
// erasure (it takes a key ID it does not hold for a destroyed one, as
// CheckKeyID of 0, which no subject key has, shows): an empty value kept
// before Allow reads as erased then too.
func (r *run) revealErasedEmpty(in []byte) bool {
	if len(in) != 0 || !r.cur.subjectKeyed() || !r.parent.IsValid() {
		return false
	}
	if _, ok := subjectIDOf(r.parent.Field(r.cur.subject.index)); !ok {
		return false
	}
	ks, err := r.subjectKeyset()
	if err != nil {
		return errors.Is(err, keys.ErrErased)
	}
	return ks != nil && errors.Is(ks.CheckKeyID(0), keys.ErrErased)
}

// stringLeaf reports whether the field's leaf is a string (through
// pointers, slices, arrays, maps and sql.NullString): the fields Reveal
// puts WithErasedValue in.
func (f *fieldPlan) stringLeaf() bool {
	n := f.node
	for n != nil && (n.kind == nodePtr || n.kind == nodeSlice || n.kind == nodeArray || n.kind == nodeMap) {
		n = n.elem
	}
	return n != nil && (n.kind == nodeString || n.kind == nodeNullString)
}
