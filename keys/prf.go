package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"

	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/prf/hmacprf"
)

// pooledPRFKey keys the pooled PRFs in Keyset.perKey, apart from ForKey's
// per-key keysets.
type pooledPRFKey uint32

// PRFFor returns the PRF of the enabled key keyID of a PRF keyset, for hot
// paths such as blind indexes. For HMAC-SHA256 keys (the only kind this
// package creates) it returns crypto/hmac states initialised with the Tink
// key and reused through a pool, which saves the key schedule that Tink's
// own PRF repeats on every call; its output equals Tink's ComputePRF (a test
// checks it). Other key types get Tink's PRF. The result is cached per key
// and safe for concurrent use; outputLength is at most 32 bytes.
//
// It returns the errors of [Keyset.CheckKeyID], and [ErrInvalidKind] when k
// is not a PRF keyset.
func (k *Keyset) PRFFor(keyID uint32) (prf.PRF, error) {
	if keyID == k.primary {
		if b := k.primaryPRF.Load(); b != nil {
			return b.prf, nil
		}
	}
	set, err := k.PRF()
	if err != nil {
		return nil, err
	}
	if v, ok := k.perKey.Load(pooledPRFKey(keyID)); ok {
		return v.(prf.PRF), nil
	}
	tinkPRF, ok := set.PRFs[keyID]
	if !ok {
		if err := k.CheckKeyID(keyID); err != nil {
			return nil, err
		}
		return nil, ErrKeyNotFound
	}
	var out prf.PRF = tinkPRF
	for i := range k.handle.Len() {
		e, err := k.handle.Entry(i)
		if err != nil || e.KeyID() != keyID {
			continue
		}
		if hk, ok := e.Key().(*hmacprf.Key); ok {
			if p, ok := hk.Parameters().(*hmacprf.Parameters); ok && p.HashType() == hmacprf.SHA256 {
				key := hk.KeyBytes().Data(insecuresecretdataaccess.Token{})
				out = &pooledHMAC{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
			}
		}
	}
	v, _ := k.perKey.LoadOrStore(pooledPRFKey(keyID), out)
	if keyID == k.primary {
		k.primaryPRF.Store(&prfBox{v.(prf.PRF)})
	}
	return v.(prf.PRF), nil
}

type prfBox struct{ prf prf.PRF }

// pooledHMAC is HMAC-SHA256 as a PRF, with keyed states reused.
type pooledHMAC struct {
	pool sync.Pool // of hash.Hash keyed with the PRF key
}

var _ prf.PRF = (*pooledHMAC)(nil)

var errPRFLength = errors.New("keys: PRF output length must be 1 to 32 bytes")

// ComputePRF returns the first outputLength bytes of HMAC-SHA256(key, input).
func (p *pooledHMAC) ComputePRF(input []byte, outputLength uint32) ([]byte, error) {
	return p.AppendPRF(make([]byte, 0, sha256.Size), input, outputLength)
}

// AppendPRF appends the first outputLength bytes of HMAC-SHA256(key, input)
// to dst, without allocating when dst has 32 bytes of spare capacity.
func (p *pooledHMAC) AppendPRF(dst, input []byte, outputLength uint32) ([]byte, error) {
	if outputLength == 0 || outputLength > sha256.Size {
		return nil, errPRFLength
	}
	h := p.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(input)
	n := len(dst)
	dst = h.Sum(dst)
	p.pool.Put(h)
	return dst[:n+int(outputLength)], nil
}
