package pii

import (
	"errors"
	"fmt"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// This file seals and opens the envelopes of the reversible actions
// (encrypt, deterministic) and fetches the keysets of every action.

type cachedKeyset struct {
	id keys.KeysetID
	ks *keys.Keyset
}

// keysetID returns the keyset a field uses: its key= name and its row's
// key kind.
func (f *fieldPlan) keysetID() keys.KeysetID {
	return keys.KeysetID{Name: f.tag.key, Kind: f.act.keyKind}
}

// keyset returns the current field's keyset, asking the provider once per
// run and keyset.
func (r *run) keyset() (*keys.Keyset, error) {
	f := r.cur
	if f.subjectKeyed() {
		return r.subjectKeyset()
	}
	for i := range r.sets {
		if c := &r.sets[i]; c.id.Kind == f.act.keyKind && c.id.Name == f.tag.key {
			return c.ks, nil
		}
	}
	return r.fetchKeyset()
}

// fetchKeyset asks the provider for the current field's keyset and keeps
// it for the rest of the run.
func (r *run) fetchKeyset() (*keys.Keyset, error) {
	id := r.cur.keysetID()
	ks, err := r.p.provider.Keyset(r.ctx, id.Name, id.Kind)
	if err != nil {
		if ctxErr := r.ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: keyset %s: %w", ErrKeyProvider, id, err)
	}
	if ks == nil || ks.Kind() != id.Kind {
		return nil, fmt.Errorf("%w: keyset %s: the provider returned no keyset of that kind", ErrKeyProvider, id)
	}
	r.sets = append(r.sets, cachedKeyset{id, ks})
	return ks, nil
}

// checkKeyID returns the keyset that holds keyID enabled: the cached
// keyset of the current field, or, when it does not know keyID, the keyset
// as stored now (a provider that caches keysets is asked once, since
// another instance may have rotated it moments ago). Otherwise it returns
// the key error (ErrKeyNotFound, ErrKeyDisabled, ErrKeyDestroyed).
func (r *run) checkKeyID(ks *keys.Keyset, keyID uint32) (*keys.Keyset, error) {
	if keyID == ks.PrimaryKeyID() {
		return ks, nil // a primary key is always enabled
	}
	checkErr := ks.CheckKeyID(keyID)
	if checkErr == nil {
		return ks, nil
	}
	rf, ok := r.p.provider.(keys.Refresher)
	if !ok || !errors.Is(checkErr, keys.ErrKeyNotFound) || r.cur.subjectKeyed() {
		return nil, checkErr
	}
	id := r.cur.keysetID()
	fresh, err := rf.Refresh(r.ctx, id.Name, id.Kind)
	if err != nil || fresh == nil || fresh.Kind() != id.Kind {
		return nil, checkErr
	}
	if err := fresh.CheckKeyID(keyID); err != nil {
		return nil, err
	}
	for i := range r.sets {
		if r.sets[i].id == id {
			r.sets[i].ks = fresh
		}
	}
	return fresh, nil
}

// holdsKeyID reports whether the current field's keyset holds keyID in any
// status, asking a caching provider once for a fresh keyset when the cached
// one does not.
func (r *run) holdsKeyID(ks *keys.Keyset, keyID uint32) bool {
	if _, ok := ks.Status(keyID); ok {
		return true
	}
	rf, ok := r.p.provider.(keys.Refresher)
	if !ok {
		return false
	}
	id := r.cur.keysetID()
	fresh, err := rf.Refresh(r.ctx, id.Name, id.Kind)
	if err != nil || fresh == nil || fresh.Kind() != id.Kind {
		return false
	}
	_, ok = fresh.Status(keyID)
	return ok
}

// parseEnvelope parses a stored value of the current field's envelope
// mode, decoding a text envelope into the run's reusable buffer.
func (r *run) parseEnvelope(in []byte, text bool) (envelope.Parsed, error) {
	m := r.cur.envMode()
	if !text {
		return envelope.ParseBinary(in, m)
	}
	env, err := envelope.AppendParseText(r.ctBuf, unsafeString(in), m)
	if err == nil {
		r.ctBuf = env.Ciphertext[:0] // reused: Tink returns a new plaintext
	}
	return env, err
}

// sealEnvelope encrypts the plaintext pt of the current field (encrypt or
// deterministic) into its text or binary envelope.
func (r *run) sealEnvelope(pt []byte, text bool) ([]byte, error) {
	if n := &r.cur.tag.normalize; n.spec != "" {
		pt = []byte(n.apply(unsafeString(pt)))
	}
	if len(pt) > envelope.MaxPlaintextSize {
		return nil, fmt.Errorf("%w: the plaintext is %d bytes, more than %d", ErrTooLong, len(pt), envelope.MaxPlaintextSize)
	}
	m := r.cur.envMode()
	// The row's size (envelopeSize), without its indirection.
	var size int
	if text {
		size = envelope.TextSize(m, len(pt))
	} else {
		size = envelope.BinarySize(m, len(pt))
	}
	if max := r.cur.tag.maxLen; max > 0 && size > max {
		return nil, fmt.Errorf("%w: a %d-byte plaintext is stored as %d bytes, more than maxlen=%d", ErrTooLong, len(pt), size, max)
	}
	ks, err := r.keyset()
	if err != nil {
		return nil, err
	}
	ad, err := r.associatedData()
	if err != nil {
		return nil, err
	}
	var ct []byte
	if m == envelope.ModeDeterministic || m == envelope.ModeSubjectDeterministic {
		d, kerr := ks.DeterministicAEAD()
		if kerr != nil {
			return nil, kerr
		}
		ct, err = d.EncryptDeterministically(pt, ad)
	} else {
		a, kerr := ks.AEAD()
		if kerr != nil {
			return nil, kerr
		}
		ct, err = a.Encrypt(pt, ad)
	}
	if err != nil {
		return nil, fmt.Errorf("pii: encryption failed: %v", err)
	}
	out := make([]byte, 0, size)
	if text {
		return envelope.AppendText(out, m, ct), nil
	}
	return envelope.AppendBinary(out, m, ct), nil
}

// openEnvelope decrypts one envelope of the current field and reports
// whether its key is not the primary (so Rewrap should re-encrypt it). It
// returns ErrDecryption for anything that does not authenticate, and the
// key errors of checkKeyID.
func (r *run) openEnvelope(in []byte, text bool) (pt []byte, stale bool, err error) {
	if r.isLegacy(in) {
		return r.openLegacy(in, text)
	}
	if pt, stale, ok := r.opened.lookup(r, in, text); ok {
		return pt, stale, nil
	}
	ks, err := r.keyset()
	if err != nil {
		return nil, false, err
	}
	env, err := r.parseEnvelope(in, text)
	if err != nil {
		return nil, false, ErrDecryption
	}
	if env.KeyID != ks.PrimaryKeyID() {
		if ks, err = r.checkKeyID(ks, env.KeyID); err != nil {
			return nil, false, err
		}
	}
	ad, err := r.associatedData()
	if err != nil {
		return nil, false, err
	}
	if m := r.cur.envMode(); m == envelope.ModeDeterministic || m == envelope.ModeSubjectDeterministic {
		d, kerr := ks.DeterministicAEAD()
		if kerr != nil {
			return nil, false, kerr
		}
		pt, err = d.DecryptDeterministically(env.Ciphertext, ad)
	} else {
		a, kerr := ks.AEAD()
		if kerr != nil {
			return nil, false, kerr
		}
		pt, err = a.Decrypt(env.Ciphertext, ad)
	}
	if err != nil {
		return nil, false, ErrDecryption
	}
	if pt == nil {
		pt = []byte{}
	}
	stale = env.KeyID != ks.PrimaryKeyID()
	r.opened.store(r, in, text, ad, pt, stale)
	return pt, stale, nil
}

// openedValues remembers, per field, the last text envelope a run opened,
// so that the same stored value of the same field under the same
// associated data opens once (a column the GORM plugin fills with one
// protected empty string, repeated deterministic values): decryption is a
// function of the key, ciphertext and associated data, and a run's keysets
// do not change. Byte-slice fields are left out (their plaintexts would
// share memory), and so are fields under subject keys. It holds at most
// maxOpened fields.
type openedValues []lastOpened

const maxOpened = 8

type lastOpened struct {
	field *fieldPlan
	in    []byte
	ad    []byte
	pt    []byte
	stale bool
}

// lookup returns the plaintext of in when it is the last value opened for
// the current field, under the same associated data.
func (o openedValues) lookup(r *run, in []byte, text bool) ([]byte, bool, bool) {
	if !text {
		return nil, false, false
	}
	for i := range o {
		e := &o[i]
		if e.field != r.cur {
			continue
		}
		if string(in) != string(e.in) {
			return nil, false, false
		}
		ad, err := r.associatedData()
		if err != nil || string(ad) != string(e.ad) {
			return nil, false, false
		}
		return e.pt, e.stale, true
	}
	return nil, false, false
}

// store remembers the value just opened for the current field.
func (o *openedValues) store(r *run, in []byte, text bool, ad, pt []byte, stale bool) {
	if !text || r.cur.subjectKeyed() {
		return
	}
	var e *lastOpened
	for i := range *o {
		if (*o)[i].field == r.cur {
			e = &(*o)[i]
			break
		}
	}
	if e == nil {
		if len(*o) == maxOpened {
			return
		}
		*o = append(*o, lastOpened{})
		e = &(*o)[len(*o)-1]
	}
	e.field, e.pt, e.stale = r.cur, pt, stale
	e.in = append(e.in[:0], in...)
	e.ad = append(e.ad[:0], ad...)
}

// reset drops the plaintexts the run remembers, keeping the buffers.
func (o *openedValues) reset() {
	for i := range *o {
		e := &(*o)[i]
		e.field, e.pt = nil, nil
		e.in, e.ad = e.in[:0], e.ad[:0]
	}
	*o = (*o)[:0]
}

// The leaf functions of the reversible actions.

// protectSealed keeps a value that verifies as already protected and seals
// any other.
func protectSealed(r *run, in []byte, text bool) ([]byte, bool, error) {
	if r.isLegacy(in) { // stored before the struct had a subject field: under the subject's key now
		pt, _, err := r.openLegacy(in, text)
		if err != nil {
			return nil, false, fmt.Errorf("%w: the value carries the tillid ciphertext prefix but does not verify for this field: %w", ErrDecryption, err)
		}
		out, err := r.cur.act.seal(r, pt, text)
		return out, err == nil, err
	}
	if r.cur.act.recognise(in) {
		err := r.cur.act.verify(r, in, text)
		if err != nil && r.keepErasedSealed(in, text, err) {
			// Under an erased key nothing can be verified, and nothing is
			// left to keep: the zero value is stored, so that no bytes a
			// caller put there (a forged envelope, another field's
			// ciphertext) reach storage in place of the shredded value.
			return nil, true, nil
		}
		return nil, false, err
	}
	if keep, fallback := r.keepErasedPlain(in, text); keep {
		return nil, fallback, nil // nothing to seal under an erased key
	}
	out, err := r.cur.act.seal(r, in, text)
	return out, err == nil, err
}

// verifySealed opens a stored value to verify it: key ID in the field's
// keyset, size, tag and associated data.
func verifySealed(r *run, in []byte, text bool) error {
	if _, _, err := r.openEnvelope(in, text); err != nil {
		return fmt.Errorf("%w: the value carries the tillid ciphertext prefix but does not verify for this field: %w", ErrDecryption, err)
	}
	return nil
}

// revealSealed opens a stored value; plaintext is ErrNotProtected, or
// legacy plaintext left as it is under migrate; a stored value of another
// action or mode is ErrDecryption (see misplaced).
func revealSealed(r *run, in []byte, text bool) ([]byte, bool, error) {
	if !r.cur.act.recognise(in) {
		if err := misplaced(in); err != nil {
			return nil, false, err
		}
		if r.revealErasedEmpty(in) {
			return nil, false, errErasedLeaf // kept empty by Protect under an erased key
		}
		return nil, false, r.legacyPlaintext()
	}
	pt, _, err := r.openEnvelope(in, text)
	if err != nil && r.cur.subjectKeyed() && errors.Is(err, keys.ErrErased) {
		return nil, false, errErasedLeaf // the store holds a tombstone: erased, not tampered
	}
	return pt, err == nil, err
}

// rewrapSealed re-seals a value whose key is not the primary, and seals
// legacy plaintext under migrate.
func rewrapSealed(r *run, in []byte, text bool) ([]byte, bool, error) {
	if !r.cur.act.recognise(in) {
		if r.revealErasedEmpty(in) {
			return nil, false, nil // kept empty under an erased key: nothing to rewrap
		}
		if !r.cur.tag.migrate {
			return nil, false, ErrNotProtected
		}
		out, err := r.cur.act.seal(r, in, text)
		return out, err == nil, err
	}
	pt, stale, err := r.openEnvelope(in, text)
	if err != nil && r.cur.subjectKeyed() && errors.Is(err, keys.ErrErased) {
		return nil, false, nil // erased: nothing to rewrap, ever
	}
	if err != nil || !stale {
		return nil, false, err
	}
	if r.isLegacy(in) {
		if err := r.renewSubjectKey(); err != nil {
			return nil, false, err
		}
	}
	out, err := r.cur.act.seal(r, pt, text)
	return out, err == nil, err
}

// misplaced returns ErrDecryption for a value that a field's row does not
// recognise but that carries a tillid stored-value prefix ("tl1e:",
// "tl1t:", …): the stored value of another action or mode, moved into the
// field or tampered with. It is never plaintext, so neither ErrNotProtected
// nor, under migrate, legacy plaintext let through. It returns nil for
// anything else.
func misplaced(in []byte) error {
	if envelope.HasPrefix(in) {
		return fmt.Errorf("%w: the value is a tillid stored value of another action or mode than this field's", ErrDecryption)
	}
	return nil
}

// legacyPlaintext is what Reveal does with a plaintext value: counts it
// and lets it through under migrate, and is ErrNotProtected otherwise.
func (r *run) legacyPlaintext() error {
	if !r.cur.tag.migrate {
		return ErrNotProtected
	}
	r.legacy = append(r.legacy, typeName(r.parent.Type())+"."+r.cur.name)
	return nil
}

// envelopeSize is the stored size of the reversible actions.
func envelopeSize(m envelope.Mode) func(n int, text bool) int {
	return func(n int, text bool) int {
		if n < 0 {
			return -1
		}
		if text {
			return envelope.TextSize(m, n)
		}
		return envelope.BinarySize(m, n)
	}
}
