package pii

import (
	"reflect"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// encryptAction is randomised encryption with Tink AES-256-GCM: equal
// plaintexts give different ciphertexts. Stored as "tl1e:" ||
// base64url(Tink ciphertext) in string fields and "tl1e:" || Tink
// ciphertext in []byte fields. In a struct with a subject field it is
// sealed under the subject's key instead ("tl1s:"): see subjectMode.
var encryptAction = &action{
	name:    "encrypt",
	id:      ActionEncrypt,
	keyKind: keys.KindAEAD,
	mode:    envelope.ModeAEAD,
	// Under a subject key ("tl1s:"), Forget and Withdraw of its purpose
	// make the value unreadable: Reveal gives its zero value.
	subjectMode: envelope.ModeSubjectAEAD,
	check: func(b *planBuilder, _ *typePlan, t reflect.Type, f *fieldPlan) (*node, error) {
		return b.leafNode(t, f, leafShapes{bytes: true, value: true})
	},
	protect:   protectSealed,
	reveal:    revealSealed,
	rewrap:    rewrapSealed,
	seal:      (*run).sealEnvelope,
	recognise: envelope.HasPrefix,
	verify:    verifySealed,
	keyIDOf:   envelopeKeyID(envelope.ModeAEAD, envelope.ModeSubjectAEAD),
	size:      envelopeSize(envelope.ModeAEAD),
	source:    sourceOpened,
	redacts:   true,
}
