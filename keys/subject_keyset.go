package keys

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/daead/aessiv"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/key"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/secretdata"
)

// Labels of the subject-key constructions; part of the stored format.
const (
	subjectPseudonymLabel = "tillid/v1/subject-pseudonym"
	subjectWrapLabel      = "tillid/v1/subject-key"
	subjectAEADLabel      = "tillid/v1/subject-key/aead"
	subjectDAEADLabel     = "tillid/v1/subject-key/daead"
	subjectKeyIDLabel     = "tillid/v1/subject-key/id"
)

// SubjectSeedSize is the size of a subject key's seed, in bytes: the key
// material stored (wrapped) per subject and purpose.
const SubjectSeedSize = 32

const enabled = keyset.Enabled

func randomSeed(b []byte) error {
	_, err := rand.Read(b)
	return err
}

// pseudonymOf returns the first 16 bytes of the PRF of label || 0 || subject.
func pseudonymOf(f prf.PRF, subject string) (Pseudonym, error) {
	in := make([]byte, 0, len(subjectPseudonymLabel)+1+len(subject))
	in = append(append(append(in, subjectPseudonymLabel...), 0), subject...)
	out, err := f.ComputePRF(in, PseudonymSize)
	if err != nil {
		return Pseudonym{}, fmt.Errorf("keys: subject pseudonym: %v", err)
	}
	var p Pseudonym
	copy(p[:], out)
	return p, nil
}

func wrapAssociatedData(p Pseudonym, purpose string) []byte {
	ad := make([]byte, 0, len(subjectWrapLabel)+1+PseudonymSize+len(purpose))
	ad = append(append(ad, subjectWrapLabel...), 0)
	ad = append(ad, p[:]...)
	return append(ad, purpose...)
}

// newRow makes a fresh seed for (p, purpose) and wraps it.
func (s *SubjectKeys) newRow(wrap *Keyset, p Pseudonym, purpose string, now time.Time) (SubjectKeyRow, error) {
	seed := make([]byte, SubjectSeedSize)
	if err := s.cfg.newSeed(seed); err != nil {
		return SubjectKeyRow{}, fmt.Errorf("keys: making a subject key: %v", err)
	}
	wrapped, err := s.newRowFromSeed(wrap, p, purpose, seed)
	if err != nil {
		return SubjectKeyRow{}, err
	}
	return SubjectKeyRow{Pseudonym: p, Purpose: purpose, Wrapped: wrapped, Created: now}, nil
}

// unwrapSeed opens a stored wrapped seed. A wrapping key that is disabled
// or destroyed gives the errors of [Keyset.CheckKeyID]; anything else
// (tampering, a row moved to another subject) gives [ErrWrongKEK].
func unwrapSeed(wrap *Keyset, p Pseudonym, purpose string, wrapped []byte) ([]byte, error) {
	a, err := wrap.AEAD()
	if err != nil {
		return nil, err
	}
	seed, err := a.Decrypt(wrapped, wrapAssociatedData(p, purpose))
	if err == nil && len(seed) == SubjectSeedSize {
		return seed, nil
	}
	if len(wrapped) >= 5 && wrapped[0] == 1 {
		if err := wrap.CheckKeyID(binary.BigEndian.Uint32(wrapped[1:5])); err != nil {
			return nil, fmt.Errorf("keys: subject key of %s: wrapping %w", p, err)
		}
	}
	return nil, fmt.Errorf("keys: subject key of %s does not unwrap under keyset %q: %w", p, wrap.Name(), ErrWrongKEK)
}

// keyset returns the entry's keyset of kind, built once.
func (e *subjectEntry) keyset(purpose string, kind Kind) (*Keyset, error) {
	slot := &e.keysets[0]
	if kind == KindDeterministicAEAD {
		slot = &e.keysets[1]
	}
	if ks := slot.Load(); ks != nil {
		return ks, nil
	}
	ks, err := subjectKeyset(e.seed, purpose, kind)
	if err != nil {
		return nil, err
	}
	ks.erasedOthers = e.shredded
	if !slot.CompareAndSwap(nil, ks) {
		return slot.Load(), nil
	}
	return ks, nil
}

// subjectKeyset derives the one-key Tink keyset of kind from seed.
func subjectKeyset(seed []byte, purpose string, kind Kind) (*Keyset, error) {
	idBytes, err := hkdf.Key(sha256.New, seed, nil, subjectKeyIDLabel, 4)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving a subject key: %v", err)
	}
	keyID := binary.BigEndian.Uint32(idBytes) | 1 // never 0
	var k key.Key
	switch kind {
	case KindAEAD:
		raw, err := hkdf.Key(sha256.New, seed, nil, subjectAEADLabel, 32)
		if err != nil {
			return nil, fmt.Errorf("keys: deriving a subject key: %v", err)
		}
		params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{KeySizeInBytes: 32, IVSizeInBytes: 12, TagSizeInBytes: 16, Variant: aesgcm.VariantTink})
		if err != nil {
			return nil, fmt.Errorf("keys: subject key: %v", err)
		}
		if k, err = aesgcm.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), keyID, params); err != nil {
			return nil, fmt.Errorf("keys: subject key: %v", err)
		}
	case KindDeterministicAEAD:
		raw, err := hkdf.Key(sha256.New, seed, nil, subjectDAEADLabel, 64)
		if err != nil {
			return nil, fmt.Errorf("keys: deriving a subject key: %v", err)
		}
		params, err := aessiv.NewParameters(64, aessiv.VariantTink)
		if err != nil {
			return nil, fmt.Errorf("keys: subject key: %v", err)
		}
		if k, err = aessiv.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), keyID, params); err != nil {
			return nil, fmt.Errorf("keys: subject key: %v", err)
		}
	default:
		return nil, fmt.Errorf("keys: subject key kind %v: %w", kind, ErrInvalidKind)
	}
	m := keyset.NewManager()
	id, err := m.AddKey(k)
	if err != nil {
		return nil, fmt.Errorf("keys: subject key: %v", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("keys: subject key: %v", err)
	}
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("keys: subject key: %v", err)
	}
	name := "subject"
	if purpose != "" {
		name += "." + purpose
	}
	return NewKeyset(name, kind, h)
}
