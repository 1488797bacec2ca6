package keys

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Kind says which primitive a keyset serves. The zero value, KindUnknown, is
// invalid and rejected everywhere.
type Kind int

const (
	// KindUnknown is the invalid zero Kind.
	KindUnknown Kind = iota
	// KindAEAD is randomised authenticated encryption with associated data:
	// Tink AES-256-GCM with a 12-byte random nonce and a 16-byte tag.
	KindAEAD
	// KindDeterministicAEAD is deterministic authenticated encryption:
	// Tink AES-256-SIV (RFC 5297) with a 64-byte key and a 16-byte SIV.
	// Equal plaintexts under equal associated data give equal ciphertexts.
	KindDeterministicAEAD
	// KindPRF is a keyed pseudorandom function: Tink HMAC-SHA256 PRF with a
	// 32-byte key, used for blind indexes and keyed pseudonyms.
	KindPRF
)

// String returns the kind's short name: "aead", "daead", "prf" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindAEAD:
		return "aead"
	case KindDeterministicAEAD:
		return "daead"
	case KindPRF:
		return "prf"
	default:
		return "unknown"
	}
}

// ParseKind is the inverse of [Kind.String]. It returns [ErrInvalidKind] for
// any other string.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{KindAEAD, KindDeterministicAEAD, KindPRF} {
		if k.String() == s {
			return k, nil
		}
	}
	return KindUnknown, fmt.Errorf("keys: kind %q: %w", s, ErrInvalidKind)
}

// template returns the Tink key template for new keys of kind k.
func (k Kind) template() (*tinkpb.KeyTemplate, error) {
	switch k {
	case KindAEAD:
		return aead.AES256GCMKeyTemplate(), nil
	case KindDeterministicAEAD:
		return daead.AESSIVKeyTemplate(), nil
	case KindPRF:
		return prf.HMACSHA256PRFKeyTemplate(), nil
	default:
		return nil, fmt.Errorf("keys: kind %d: %w", int(k), ErrInvalidKind)
	}
}

// KeyInfo describes one key of a keyset, without its key material.
type KeyInfo struct {
	// KeyID is the Tink key ID, which every ciphertext made with the key
	// carries in its first five bytes (0x01 then the ID, big-endian).
	KeyID uint32
	// Status is keyset.Enabled, keyset.Disabled or keyset.Destroyed.
	Status keyset.KeyStatus
	// Primary reports whether the key protects new values.
	Primary bool
	// Created is when a store made the key, and the zero time when it is
	// not known (a keyset made outside a store, or before stores kept it).
	Created time.Time
	// Destroyed is when the key material was destroyed, for a key with
	// status keyset.Destroyed; otherwise the zero time.
	Destroyed time.Time
}

// Keyset is an immutable snapshot of one named keyset with its primitives
// built once. A rotation or a status change produces a new Keyset; a Keyset
// already handed out keeps working with the keys it had. It is safe for
// concurrent use.
//
// The zero Keyset is invalid: its primitive methods return [ErrNoPrimaryKey].
type Keyset struct {
	name    string
	kind    Kind
	handle  *keyset.Handle
	keys    []KeyInfo
	primary uint32
	meta    keysetMeta // creation and destruction times, kept by stores
	// erasedOthers marks a subject key's keyset whose (subject, purpose)
	// had keys destroyed by an erasure before this one was made: a key ID
	// it does not hold is one of those (see SubjectKeys).
	erasedOthers bool

	aead  tink.AEAD
	daead tink.DeterministicAEAD
	prf   *prf.Set

	perKey     sync.Map               // uint32 → *Keyset (ForKey), pooledPRFKey → prf.PRF (PRFFor)
	primaryPRF atomic.Pointer[prfBox] // PRFFor(primary), the hot path
}

// NewKeyset wraps a Tink keyset handle of the given kind, builds its
// primitive once and records the status of each key. Providers written by
// users return their handles through it. It returns [ErrInvalidKind] for
// KindUnknown and [ErrNoPrimaryKey] when h is nil or has no enabled primary.
// The name is used in errors and String; it is not secret.
func NewKeyset(name string, kind Kind, h *keyset.Handle) (*Keyset, error) {
	if _, err := kind.template(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("keys: keyset %q: nil handle: %w", name, ErrNoPrimaryKey)
	}
	ks := &Keyset{name: name, kind: kind, handle: h}
	info := h.KeysetInfo()
	for _, ki := range info.GetKeyInfo() {
		st := keyset.Unknown
		switch ki.GetStatus() {
		case tinkpb.KeyStatusType_ENABLED:
			st = keyset.Enabled
		case tinkpb.KeyStatusType_DISABLED:
			st = keyset.Disabled
		case tinkpb.KeyStatusType_DESTROYED:
			st = keyset.Destroyed
		}
		ks.keys = append(ks.keys, KeyInfo{KeyID: ki.GetKeyId(), Status: st, Primary: ki.GetKeyId() == info.GetPrimaryKeyId()})
	}
	ks.primary = info.GetPrimaryKeyId()
	if _, err := h.Primary(); err != nil {
		return nil, fmt.Errorf("keys: keyset %q: %w", name, ErrNoPrimaryKey)
	}
	var err error
	switch kind {
	case KindAEAD:
		ks.aead, err = aead.New(h)
	case KindDeterministicAEAD:
		ks.daead, err = daead.New(h)
	case KindPRF:
		ks.prf, err = prf.NewPRFSet(h)
	}
	if err != nil {
		// Tink's message names the key type on a mismatch; it holds no key bytes.
		return nil, fmt.Errorf("keys: keyset %q is not a %s keyset: %v", name, kind, err)
	}
	return ks, nil
}

// newKeyset is NewKeyset plus what a store keeps beside the Tink keyset:
// key creation times and the IDs of destroyed keys, which are listed with
// status keyset.Destroyed after the keys the handle holds.
func newKeyset(name string, kind Kind, h *keyset.Handle, meta keysetMeta) (*Keyset, error) {
	ks, err := NewKeyset(name, kind, h)
	if err != nil {
		return nil, err
	}
	ks.meta = meta.clone()
	for i := range ks.keys {
		ks.keys[i].Created = meta.Created[ks.keys[i].KeyID]
	}
	destroyed := make([]uint32, 0, len(meta.Destroyed))
	for id := range meta.Destroyed {
		if _, live := ks.Status(id); !live {
			destroyed = append(destroyed, id)
		}
	}
	slices.Sort(destroyed)
	for _, id := range destroyed {
		ks.keys = append(ks.keys, KeyInfo{KeyID: id, Status: keyset.Destroyed, Created: meta.Created[id], Destroyed: meta.Destroyed[id]})
	}
	return ks, nil
}

// Name returns the keyset's key name.
func (k *Keyset) Name() string { return k.name }

// Kind returns the keyset's kind.
func (k *Keyset) Kind() Kind { return k.kind }

// Handle returns the underlying Tink keyset handle. Most users never need it.
func (k *Keyset) Handle() *keyset.Handle { return k.handle }

// PrimaryKeyID returns the key ID of the primary key, or 0 for the zero Keyset.
func (k *Keyset) PrimaryKeyID() uint32 { return k.primary }

// Keys returns a copy of the key list: the keys the Tink keyset holds, in
// keyset order, then the destroyed keys, by key ID.
func (k *Keyset) Keys() []KeyInfo { return append([]KeyInfo(nil), k.keys...) }

// Status returns the status of the key with the given ID, and false when the
// keyset has no such key.
func (k *Keyset) Status(keyID uint32) (keyset.KeyStatus, bool) {
	for _, ki := range k.keys {
		if ki.KeyID == keyID {
			return ki.Status, true
		}
	}
	return keyset.Unknown, false
}

// CheckKeyID returns nil when keyID names an enabled key of k,
// [ErrKeyDisabled] or [ErrKeyDestroyed] for a key in that state, and
// [ErrKeyNotFound] for an ID the keyset does not hold (for a subject key
// made after an erasure of its subject and purpose, [ErrErased]: the ID is
// taken for one of the destroyed keys). The error names the keyset and the
// key ID, which are not secret.
func (k *Keyset) CheckKeyID(keyID uint32) error {
	st, ok := k.Status(keyID)
	switch {
	case !ok && k.erasedOthers:
		return fmt.Errorf("keys: keyset %q has no key %d; earlier keys of it were erased: %w", k.name, keyID, ErrErased)
	case !ok:
		return fmt.Errorf("keys: keyset %q has no key %d: %w", k.name, keyID, ErrKeyNotFound)
	case st == keyset.Disabled:
		return fmt.Errorf("keys: keyset %q key %d: %w", k.name, keyID, ErrKeyDisabled)
	case st == keyset.Destroyed:
		return fmt.Errorf("keys: keyset %q key %d: %w", k.name, keyID, ErrKeyDestroyed)
	case st != keyset.Enabled:
		return fmt.Errorf("keys: keyset %q key %d has status %v: %w", k.name, keyID, st, ErrKeyNotFound)
	}
	return nil
}

// EnabledKeyIDs returns the IDs of the enabled keys, the primary first.
// These are the "live" keys: a value protected under any of them reveals.
func (k *Keyset) EnabledKeyIDs() []uint32 {
	ids := []uint32{k.primary}
	for _, ki := range k.keys {
		if ki.Status == keyset.Enabled && ki.KeyID != k.primary {
			ids = append(ids, ki.KeyID)
		}
	}
	return ids
}

// ForKey returns a Keyset that holds only the enabled key keyID of k, as its
// primary, so that a caller can compute under an older key: a deterministic
// ciphertext per live key, for lookups that find rows written before a
// rotation. The result is built once per key and cached. It returns the
// errors of [Keyset.CheckKeyID], and [ErrInvalidKind] for a PRF keyset,
// whose keys are reached by ID through [Keyset.PRF] instead.
func (k *Keyset) ForKey(keyID uint32) (*Keyset, error) {
	if k.kind == KindPRF {
		return nil, fmt.Errorf("keys: keyset %q: ForKey is for AEAD and deterministic AEAD keysets; use PRF().PRFs[keyID]: %w", k.name, ErrInvalidKind)
	}
	if keyID == k.primary {
		return k, nil
	}
	if v, ok := k.perKey.Load(keyID); ok {
		return v.(*Keyset), nil
	}
	if err := k.CheckKeyID(keyID); err != nil {
		return nil, err
	}
	for i := range k.handle.Len() {
		e, err := k.handle.Entry(i)
		if err != nil || e.KeyID() != keyID {
			continue
		}
		m := keyset.NewManager()
		id, err := m.AddKey(e.Key())
		if err != nil {
			return nil, fmt.Errorf("keys: keyset %q key %d: %v", k.name, keyID, err)
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, fmt.Errorf("keys: keyset %q key %d: %v", k.name, keyID, err)
		}
		h, err := m.Handle()
		if err != nil {
			return nil, fmt.Errorf("keys: keyset %q key %d: %v", k.name, keyID, err)
		}
		one, err := NewKeyset(k.name, k.kind, h)
		if err != nil {
			return nil, err
		}
		v, _ := k.perKey.LoadOrStore(keyID, one)
		return v.(*Keyset), nil
	}
	return nil, fmt.Errorf("keys: keyset %q has no key %d: %w", k.name, keyID, ErrKeyNotFound)
}

// AEAD returns the keyset's AEAD primitive: Encrypt uses the primary key,
// Decrypt any enabled key named by the ciphertext's key ID. It returns
// [ErrNoPrimaryKey] when k is not an AEAD keyset.
func (k *Keyset) AEAD() (tink.AEAD, error) {
	if k == nil || k.aead == nil {
		return nil, k.wrongKind(KindAEAD)
	}
	return k.aead, nil
}

// DeterministicAEAD returns the keyset's deterministic AEAD primitive. It
// returns [ErrNoPrimaryKey] when k is not a deterministic AEAD keyset.
func (k *Keyset) DeterministicAEAD() (tink.DeterministicAEAD, error) {
	if k == nil || k.daead == nil {
		return nil, k.wrongKind(KindDeterministicAEAD)
	}
	return k.daead, nil
}

// PRF returns the keyset's PRF set, one PRF per enabled key. It returns
// [ErrNoPrimaryKey] when k is not a PRF keyset.
func (k *Keyset) PRF() (*prf.Set, error) {
	if k == nil || k.prf == nil {
		return nil, k.wrongKind(KindPRF)
	}
	return k.prf, nil
}

func (k *Keyset) wrongKind(want Kind) error {
	if k == nil || k.handle == nil {
		return fmt.Errorf("keys: empty keyset: %w", ErrNoPrimaryKey)
	}
	return fmt.Errorf("keys: keyset %q is a %s keyset, not %s: %w", k.name, k.kind, want, ErrNoPrimaryKey)
}

// String prints the keyset's name, kind and its key IDs with their status,
// for example `keys.Keyset{default/aead primary=123 [123:Enabled 45:Disabled 6:Destroyed]}`.
// It never prints key material.
func (k *Keyset) String() string {
	if k == nil {
		return "keys.Keyset{<nil>}"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "keys.Keyset{%s/%s primary=%d [", k.name, k.kind, k.primary)
	for i, ki := range k.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%v", ki.KeyID, ki.Status)
	}
	b.WriteString("]}")
	return b.String()
}

// GoString is String, so that %#v prints no key material either.
func (k *Keyset) GoString() string { return k.String() }

// Errors returned by this package. Callers branch on them with errors.Is.
var (
	// ErrKeyNotFound means a ciphertext names a key ID that the keyset does
	// not hold, or a key name that the provider does not know.
	ErrKeyNotFound = errors.New("keys: key not found")
	// ErrKeyDisabled means the key exists but is disabled: it reveals nothing
	// until it is enabled again.
	ErrKeyDisabled = errors.New("keys: key disabled")
	// ErrKeyDestroyed means the key material is gone (crypto-shredded): the
	// values it protected can never be revealed.
	ErrKeyDestroyed = errors.New("keys: key destroyed")
	// ErrNoPrimaryKey means a keyset has no usable primary key, or is of
	// another kind than asked for.
	ErrNoPrimaryKey = errors.New("keys: no primary key")
	// ErrInvalidKind means a Kind outside KindAEAD, KindDeterministicAEAD and
	// KindPRF.
	ErrInvalidKind = errors.New("keys: invalid kind")
	// ErrWrongKEK means a stored keyset did not decrypt under the KEK given:
	// the wrong master key or KMS key, or a tampered store. Nothing is written
	// when it is returned.
	ErrWrongKEK = errors.New("keys: keyset does not decrypt under this KEK")
	// ErrInvalidKEK means a master key that is not 32 bytes, or a KEK that
	// could not be read.
	ErrInvalidKEK = errors.New("keys: invalid KEK")
)
