// Package piitest provides fixed keys, fakes and conformance suites for
// tests of code that uses tillid. Its keys are public: never use them
// outside tests. Real keys come from a KMS or a keyset file encrypted under
// one.
//
// The suites check an implementation of one of tillid's interfaces the way
// crypto/internal/cryptotest checks an AEAD: [TestKEK] for key-encryption
// keys, [TestProvider] for keyset stores (keys.Manager) and
// [TestTokenStore] for token vaults (tokenize.Store). Every KEK, keyset
// store and token vault that tillid ships passes them, and one written by a
// user should too:
//
//	func TestMyKEK(t *testing.T) {
//		piitest.TestKEK(t, func(t *testing.T) tink.AEAD { return newMyKEK(t) })
//	}
//
// The fakes are [Clock], for the stores' clock options, [AuditRecorder], a
// keys.Auditor that keeps its events, and [NewPlainTink], the keyset and
// values of a plain-Tink deployment, for tests of keys import.
package piitest

import (
	"context"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
)

// Fixed keysets, in Tink's cleartext JSON format. They are public test keys.
const (
	// aeadKeyset is an AES-256-GCM keyset with one key, ID 1000000001.
	aeadKeyset = `{"primaryKeyId":1000000001,"key":[{"keyData":{"typeUrl":"type.googleapis.com/google.crypto.tink.AesGcmKey","value":"GiAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==","keyMaterialType":"SYMMETRIC"},"status":"ENABLED","keyId":1000000001,"outputPrefixType":"TINK"}]}`
	// daeadKeyset is an AES-256-SIV keyset with one key, ID 1000000002.
	daeadKeyset = `{"primaryKeyId":1000000002,"key":[{"keyData":{"typeUrl":"type.googleapis.com/google.crypto.tink.AesSivKey","value":"EkAgISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f","keyMaterialType":"SYMMETRIC"},"status":"ENABLED","keyId":1000000002,"outputPrefixType":"TINK"}]}`
	// prfKeyset is an HMAC-SHA256 PRF keyset with one key, ID 1000000003.
	prfKeyset = `{"primaryKeyId":1000000003,"key":[{"keyData":{"typeUrl":"type.googleapis.com/google.crypto.tink.HmacPrfKey","value":"EgIIAxogYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=","keyMaterialType":"SYMMETRIC"},"status":"ENABLED","keyId":1000000003,"outputPrefixType":"RAW"}]}`
)

// FixedProvider is a [keys.Provider] that serves the same public test
// keysets under every key name, so that ciphertexts in known-answer tests
// are reproducible. It is safe for concurrent use.
type FixedProvider struct {
	sets map[keys.Kind]*keys.Keyset
}

// NewFixedProvider returns a FixedProvider. It panics if the embedded
// keysets do not parse, which is a bug in this package.
func NewFixedProvider() *FixedProvider {
	p := &FixedProvider{sets: map[keys.Kind]*keys.Keyset{}}
	for kind, js := range map[keys.Kind]string{keys.KindAEAD: aeadKeyset, keys.KindDeterministicAEAD: daeadKeyset, keys.KindPRF: prfKeyset} {
		h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(strings.NewReader(js)))
		if err != nil {
			panic(fmt.Sprintf("piitest: fixed %s keyset: %v", kind, err))
		}
		ks, err := keys.NewKeyset("fixed", kind, h)
		if err != nil {
			panic(fmt.Sprintf("piitest: fixed %s keyset: %v", kind, err))
		}
		p.sets[kind] = ks
	}
	return p
}

// Keyset returns the fixed keyset of the given kind, whatever the name.
func (p *FixedProvider) Keyset(_ context.Context, name string, kind keys.Kind) (*keys.Keyset, error) {
	ks, ok := p.sets[kind]
	if !ok {
		return nil, fmt.Errorf("piitest: kind %v: %w", kind, keys.ErrInvalidKind)
	}
	return ks, nil
}

// MasterKey returns a fixed, public 32-byte master key for tests of keyset
// files. DO NOT use it for real data.
func MasterKey() []byte {
	k := make([]byte, keys.MasterKeySize)
	for i := range k {
		k[i] = byte(0x42 + i)
	}
	return k
}

var _ keys.Provider = (*FixedProvider)(nil)
