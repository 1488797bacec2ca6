package pii

import (
	"fmt"
	"reflect"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// pseudonymAction replaces the value itself with a keyed pseudonym, a
// truncated HMAC-SHA256 of the normalised value under a PRF keyset: one
// way, for joins and analytics without the original. Stored as "tl1h:" ||
// base64url(0x01 || key ID || output) in string fields, the envelope
// prefix and those bytes in []byte fields. Under Forget: a pseudonym is
// not under subject keys and still links the records of an erased person;
// [Protector.Erase] clears it.
var pseudonymAction = &action{
	name:      "pseudonym",
	id:        ActionPseudonym,
	keyKind:   keys.KindPRF,
	mode:      envelope.ModePseudonym,
	prfLabel:  pseudonymLabel,
	check:     checkPseudonym,
	protect:   protectPseudonym,
	reveal:    keepPseudonym,
	rewrap:    keepPseudonym,
	recognise: envelope.HasPrefix,
	verify:    verifyPRF,
	keyIDOf:   envelopeKeyID(envelope.ModePseudonym),
	size:      envelopeSize(envelope.ModePseudonym),
	lookup:    lookupPRF,
	redacts:   true,
}

// hashAction is the first name of the pseudonym action, kept as an alias:
// it reads and writes the same stored values.
//
// Deprecated: tag fields `pii:"pseudonym"`.
var hashAction = func() *action {
	a := *pseudonymAction
	a.name = "hash"
	return &a
}()

func checkPseudonym(b *planBuilder, _ *typePlan, t reflect.Type, f *fieldPlan) (*node, error) {
	if reflect.PointerTo(t).Implements(sealerType) {
		return nil, fmt.Errorf("%s is for string and []byte fields; a pii.Value cannot hold a one-way pseudonym", f.act.name)
	}
	n, err := b.leafNode(t, f, leafShapes{bytes: true})
	if err != nil {
		return nil, err
	}
	return n, checkLowCardinality(t, f)
}

// protectPseudonym replaces a plaintext with its pseudonym, and keeps a
// stored pseudonym once verified.
func protectPseudonym(r *run, in []byte, text bool) ([]byte, bool, error) {
	if r.cur.act.recognise(in) {
		return nil, false, r.cur.act.verify(r, in, text)
	}
	out, err := r.prfStored([]string{unsafeString(in)}, 0, text)
	return out, err == nil, err
}

// keepPseudonym is Reveal and Rewrap of a pseudonym: it cannot be undone
// or recomputed without the original, so it stays once verified.
func keepPseudonym(r *run, in []byte, text bool) ([]byte, bool, error) {
	if !r.cur.act.recognise(in) {
		return nil, false, ErrNotProtected
	}
	return nil, false, r.cur.act.verify(r, in, text)
}

// verifyPRF checks a stored index or pseudonym as far as it can be without
// the original: the envelope of the field's mode, the size the field
// produces (bits= zeroes the bits past the truncation), and a key ID that
// the field's keyset holds, whatever its status: a pseudonym cannot be
// recomputed after a rotation, so it stays valid under a disabled key. The
// PRF output itself cannot be checked. Anything else is ErrDecryption.
func verifyPRF(r *run, in []byte, text bool) error {
	f := r.cur
	env, err := r.parseEnvelope(in, text)
	if err != nil || len(env.Ciphertext) != envelope.TinkPrefixSize+f.tag.indexBytes() {
		return fmt.Errorf("%w: the value carries the tillid prefix but is not a %s of this field", ErrDecryption, f.act.name)
	}
	mac := env.Ciphertext[envelope.TinkPrefixSize:]
	if rem := f.tag.bits % 8; rem != 0 && mac[len(mac)-1]&byte(0xff>>rem) != 0 {
		return fmt.Errorf("%w: the value carries the tillid prefix but is not a %s of this field", ErrDecryption, f.act.name)
	}
	ks, err := r.keyset()
	if err != nil {
		return err
	}
	if !r.holdsKeyID(ks, env.KeyID) {
		return fmt.Errorf("%w: the value carries the tillid prefix but its key ID is not in the field's keyset", ErrDecryption)
	}
	return nil
}
