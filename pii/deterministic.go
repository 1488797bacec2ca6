package pii

import (
	"fmt"
	"reflect"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// deterministicAction is deterministic encryption with Tink AES-256-SIV:
// equal plaintexts of one field give equal ciphertexts, so the column can
// be searched and joined by equality (which it reveals). Stored as
// "tl1d:" and the Tink ciphertext, like encrypt.
var deterministicAction = &action{
	name:    "deterministic",
	id:      ActionDeterministic,
	keyKind: keys.KindDeterministicAEAD,
	mode:    envelope.ModeDeterministic,
	// Under a subject key ("tl1r:"), Forget and Withdraw of its purpose
	// make the value unreadable, as for encrypt; such a field cannot be
	// looked up (its ciphertext differs per subject).
	subjectMode: envelope.ModeSubjectDeterministic,
	check: func(b *planBuilder, _ *typePlan, t reflect.Type, f *fieldPlan) (*node, error) {
		n, err := b.leafNode(t, f, leafShapes{bytes: true, value: true})
		if err != nil {
			return nil, err
		}
		return n, checkLowCardinality(t, f)
	},
	protect:   protectSealed,
	reveal:    revealSealed,
	rewrap:    rewrapSealed,
	seal:      (*run).sealEnvelope,
	recognise: envelope.HasPrefix,
	verify:    verifySealed,
	keyIDOf:   envelopeKeyID(envelope.ModeDeterministic, envelope.ModeSubjectDeterministic),
	size:      envelopeSize(envelope.ModeDeterministic),
	lookup:    lookupDeterministic,
	source:    sourceOpened,
	redacts:   true,
}

// lookupDeterministic is the lookup of a deterministic field: the
// ciphertext of the normalised query under each enabled key, the primary's
// first.
func lookupDeterministic(r *run, ks *keys.Keyset, query []string) ([]string, error) {
	f := r.cur
	if f.recordIndex >= 0 {
		return nil, fmt.Errorf("bound to its record with aad=, so its stored form differs per record and cannot be looked up; drop aad= or add an index field")
	}
	if f.subjectKeyed() {
		return nil, fmt.Errorf("sealed under its subject's key, so its stored form differs per subject and cannot be looked up; add an index field")
	}
	if f.node.kind == nodeValue {
		return nil, fmt.Errorf("LookupTerms supports string and []byte fields, not pii.Value")
	}
	text := f.storesText()
	ad := appendAssociatedData(nil, f.adPrefix, nil, r.p.extraAD)
	pt := []byte(f.tag.normalize.apply(query[0]))
	var terms []string
	for _, id := range ks.EnabledKeyIDs() {
		one, err := ks.ForKey(id)
		if err != nil {
			return nil, err
		}
		d, err := one.DeterministicAEAD()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyProvider, err)
		}
		ct, err := d.EncryptDeterministically(pt, ad)
		if err != nil {
			return nil, fmt.Errorf("pii: encryption failed: %v", err)
		}
		if text {
			terms = append(terms, string(envelope.AppendText(nil, envelope.ModeDeterministic, ct)))
		} else {
			terms = append(terms, string(envelope.AppendBinary(nil, envelope.ModeDeterministic, ct)))
		}
	}
	return terms, nil
}
