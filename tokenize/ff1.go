package tokenize

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"unicode/utf8"
)

const (
	// FF1MaxLength is the longest FF1 input, in characters. SP 800-38G allows
	// up to 2^32; this package stops far below that, at a length that covers
	// any identifier, so that one call has bounded cost.
	FF1MaxLength = 1024
	// FF1MaxTweakSize is the largest FF1 tweak, in bytes.
	FF1MaxTweakSize = 256
)

// FF1 is the FF1 format-preserving cipher of NIST SP 800-38G Rev. 1 over
// AES, for strings over one [Alphabet]. Encrypting a string gives a string
// of the same length over the same alphabet; the tweak, a public value such
// as a record ID, changes the permutation.
//
// FF1 is deterministic and keeps length: equal inputs under the same key and
// tweak give equal outputs, and the output's length is the input's. It does
// not authenticate: every string of the right length and alphabet decrypts
// to something. Inputs must range over at least [MinDomainSize] values
// (radix^length >= 1,000,000).
//
// Most users should use [FPE] instead, which takes its keys from a
// keys.Provider and rotates them. An FF1 is safe for concurrent use.
type FF1 struct {
	block    cipher.Block
	alphabet *Alphabet
	radix    uint32
}

// NewFF1 returns an FF1 cipher under the AES key key (16, 24 or 32 bytes,
// for AES-128, AES-192 or AES-256) over alphabet. The key is copied and must
// be kept secret. NewFF1 returns an error for any other key size and for a
// nil or zero alphabet.
func NewFF1(key []byte, alphabet *Alphabet) (*FF1, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("tokenize: FF1 key is %d bytes, want 16, 24 or 32", len(key))
	}
	if alphabet == nil || alphabet.Radix() < 2 {
		return nil, fmt.Errorf("tokenize: FF1 needs an alphabet from NewAlphabet")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("tokenize: FF1 key: %v", err)
	}
	return &FF1{block: block, alphabet: alphabet, radix: uint32(alphabet.Radix())}, nil
}

// Encrypt returns the FF1 encryption of plaintext under tweak: a string of
// the same length over the same alphabet. tweak may be empty and is at most
// [FF1MaxTweakSize] bytes; it is not secret but must be given again to
// Decrypt.
//
// Encrypt returns an error wrapping [ErrInvalidValue] when plaintext holds a
// character outside the alphabet, is shorter than the alphabet's
// [Alphabet.MinLength] or longer than [FF1MaxLength]. The error names
// positions and lengths, never characters.
func (f *FF1) Encrypt(plaintext string, tweak []byte) (string, error) {
	return f.crypt(plaintext, tweak, false)
}

// Decrypt returns the FF1 decryption of ciphertext under tweak. It returns
// the errors of [FF1.Encrypt]. FF1 does not authenticate: a wrong key or
// tweak gives a wrong plaintext, not an error.
func (f *FF1) Decrypt(ciphertext string, tweak []byte) (string, error) {
	return f.crypt(ciphertext, tweak, true)
}

func (f *FF1) crypt(in string, tweak []byte, decrypt bool) (string, error) {
	if len(tweak) > FF1MaxTweakSize {
		return "", fmt.Errorf("tokenize: FF1 tweak is %d bytes, more than %d", len(tweak), FF1MaxTweakSize)
	}
	// Check the length before converting, so that a huge input costs nothing.
	n := utf8.RuneCountInString(in)
	if n < f.alphabet.minLen {
		return "", fmt.Errorf("tokenize: FF1 input of %d characters is too short for radix %d: radix^length must be at least %d, so at least %d characters: %w",
			n, f.radix, MinDomainSize, f.alphabet.minLen, ErrInvalidValue)
	}
	if n > FF1MaxLength {
		return "", fmt.Errorf("tokenize: FF1 input of %d characters is longer than %d: %w", n, FF1MaxLength, ErrInvalidValue)
	}
	x, err := f.alphabet.numerals(in)
	if err != nil {
		return "", err
	}
	f.cryptNumerals(x, tweak, decrypt)
	return f.alphabet.string(x, len(in)), nil
}

// cryptNumerals runs FF1 (SP 800-38G Algorithms 7 and 8) on the numerals x
// in place. len(x) is at least 2 and at most FF1MaxLength, and every numeral
// is below f.radix.
func (f *FF1) cryptNumerals(x []uint16, tweak []byte, decrypt bool) {
	n := len(x)
	u := n / 2
	v := n - u
	// b is the byte length of NUM(B): ceil(ceil(v*log2(radix))/8), and
	// ceil(v*log2(radix)) is the bit length of radix^v - 1.
	var b int
	powV, fits := pow64(f.radix, v)
	if fits {
		b = (bits.Len64(powV-1) + 7) / 8
	} else {
		p := new(big.Int).Exp(big.NewInt(int64(f.radix)), big.NewInt(int64(v)), nil)
		b = (p.Sub(p, bigOne).BitLen() + 7) / 8
	}
	d := 4*((b+3)/4) + 4

	r := newRounds(f.block, f.radix, u, n, tweak, b)
	if fits {
		// radix^u <= radix^v < 2^64: the halves and the round arithmetic fit
		// in uint64, and y mod radix^m needs at most d = 12 bytes of S.
		powU, _ := pow64(f.radix, u)
		f.rounds64(x, u, powU, powV, r, decrypt)
		return
	}
	f.roundsBig(x, u, b, d, r, decrypt)
}

// rounds holds what the ten rounds of one FF1 call share: the CBC-MAC state
// after P and the round-independent blocks of Q, and the rest of Q.
type rounds struct {
	block cipher.Block
	// state is the CBC-MAC chaining value after P || the whole blocks of Q
	// that hold only the tweak and padding.
	state [aes.BlockSize]byte
	// tail is the rest of Q: its last bytes are [i]^1 || [NUM(B)]^b.
	tail []byte
	b    int
	// out receives R; p holds the block P. They live here, not on the
	// stack, because cipher.Block's methods make their arguments escape.
	out, p [aes.BlockSize]byte
	// qBuf backs Q when it is short, saving an allocation.
	qBuf [64]byte
}

func newRounds(block cipher.Block, radix uint32, u, n int, tweak []byte, b int) *rounds {
	t := len(tweak)
	r := &rounds{block: block, b: b}
	// P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4.
	p := &r.p
	p[0], p[1], p[2] = 1, 2, 1
	p[3], p[4], p[5] = byte(radix>>16), byte(radix>>8), byte(radix)
	p[6] = 10
	p[7] = byte(u)
	binary.BigEndian.PutUint32(p[8:12], uint32(n))
	binary.BigEndian.PutUint32(p[12:16], uint32(t))

	// Q = T || [0]^((-t-b-1) mod 16) || [i]^1 || [NUM(B)]^b.
	pad := ((-t-b-1)%16 + 16) % 16
	qLen := t + pad + 1 + b
	var q []byte
	if qLen <= len(r.qBuf) {
		q = r.qBuf[:qLen]
	} else {
		q = make([]byte, qLen)
	}
	copy(q, tweak)
	// The blocks of Q before the one that holds [i]^1 never change.
	fixed := (t + pad) / aes.BlockSize * aes.BlockSize

	block.Encrypt(r.state[:], p[:])
	for off := 0; off < fixed; off += aes.BlockSize {
		subtle16(r.state[:], q[off:off+aes.BlockSize])
		block.Encrypt(r.state[:], r.state[:])
	}
	r.tail = q[fixed:]
	return r
}

// prf returns R = PRF(P || Q) for round i, where the last b bytes of Q
// were set through num. R is valid until the next call.
func (r *rounds) prf(i int) *[aes.BlockSize]byte {
	r.tail[len(r.tail)-r.b-1] = byte(i)
	out := &r.out
	*out = r.state
	for off := 0; off < len(r.tail); off += aes.BlockSize {
		subtle16(out[:], r.tail[off:off+aes.BlockSize])
		r.block.Encrypt(out[:], out[:])
	}
	return out
}

// num returns the slot for [NUM(B)]^b in Q.
func (r *rounds) num() []byte { return r.tail[len(r.tail)-r.b:] }

// rounds64 is the Feistel network when radix^v fits in a uint64. The halves
// are kept as numbers: NUM_radix(STR_radix(c)) = c, so the strings are only
// needed at the ends.
func (f *FF1) rounds64(x []uint16, u int, powU, powV uint64, r *rounds, decrypt bool) {
	a := num64(x[:u], f.radix)
	c := num64(x[u:], f.radix)
	numB := r.num()
	var word [8]byte
	for j := range 10 {
		i := j
		if decrypt {
			i = 9 - j
		}
		mod := powU
		if i%2 == 1 {
			mod = powV
		}
		// Q carries B when encrypting and A when decrypting.
		in := c
		if decrypt {
			in = a
		}
		binary.BigEndian.PutUint64(word[:], in)
		copy(numB, word[8-len(numB):])
		out := r.prf(i)
		// y = NUM(S) with S the first d bytes of R; d is 8 or 12 here.
		var hi, lo uint64
		if r.b <= 4 {
			lo = binary.BigEndian.Uint64(out[:8])
		} else {
			hi = uint64(binary.BigEndian.Uint32(out[:4]))
			lo = binary.BigEndian.Uint64(out[4:12])
		}
		y := bits.Rem64(hi, lo, mod)
		if !decrypt {
			// c = (NUM(A) + y) mod radix^m; A = B; B = C.
			sum, carry := bits.Add64(a, y, 0)
			if carry != 0 || sum >= mod {
				sum -= mod
			}
			a, c = c, sum
		} else {
			// c = (NUM(B) - y) mod radix^m; B = A; A = C.
			diff := c - y
			if c < y {
				diff += mod
			}
			c, a = a, diff
		}
	}
	str64(x[:u], a, f.radix)
	str64(x[u:], c, f.radix)
}

// roundsBig is the Feistel network for any radix and length, on math/big.
func (f *FF1) roundsBig(x []uint16, u, b, d int, r *rounds, decrypt bool) {
	radix := big.NewInt(int64(f.radix))
	powU := new(big.Int).Exp(radix, big.NewInt(int64(u)), nil)
	powV := new(big.Int).Exp(radix, big.NewInt(int64(len(x)-u)), nil)
	a := numBig(x[:u], radix)
	c := numBig(x[u:], radix)
	s := make([]byte, (d+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	var blk [aes.BlockSize]byte
	y := new(big.Int)
	for j := range 10 {
		i := j
		if decrypt {
			i = 9 - j
		}
		mod := powU
		if i%2 == 1 {
			mod = powV
		}
		in := c
		if decrypt {
			in = a
		}
		in.FillBytes(r.num())
		out := r.prf(i)
		// S = R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) || ..., cut to d bytes.
		copy(s, out[:])
		for k := 1; k*aes.BlockSize < d; k++ {
			blk = *out
			binary.BigEndian.PutUint64(blk[8:], binary.BigEndian.Uint64(blk[8:])^uint64(k))
			r.block.Encrypt(s[k*aes.BlockSize:], blk[:])
		}
		y.SetBytes(s[:d])
		if !decrypt {
			next := new(big.Int).Add(a, y)
			next.Mod(next, mod)
			a, c = c, next
		} else {
			next := new(big.Int).Sub(c, y)
			next.Mod(next, mod) // Mod is Euclidean: the result is in [0, mod).
			c, a = a, next
		}
	}
	strBig(x[:u], a, radix)
	strBig(x[u:], c, radix)
}

var bigOne = big.NewInt(1)

// pow64 returns radix^e and true, or false when it does not fit in a uint64.
func pow64(radix uint32, e int) (uint64, bool) {
	p := uint64(1)
	for range e {
		hi, lo := bits.Mul64(p, uint64(radix))
		if hi != 0 {
			return 0, false
		}
		p = lo
	}
	return p, true
}

// num64 returns NUM_radix(x); the caller knows it fits.
func num64(x []uint16, radix uint32) uint64 {
	var n uint64
	for _, d := range x {
		n = n*uint64(radix) + uint64(d)
	}
	return n
}

// str64 writes STR^len(x)_radix(n) into x.
func str64(x []uint16, n uint64, radix uint32) {
	for i := len(x) - 1; i >= 0; i-- {
		x[i] = uint16(n % uint64(radix))
		n /= uint64(radix)
	}
}

func numBig(x []uint16, radix *big.Int) *big.Int {
	n := new(big.Int)
	d := new(big.Int)
	for _, v := range x {
		n.Mul(n, radix)
		n.Add(n, d.SetUint64(uint64(v)))
	}
	return n
}

func strBig(x []uint16, n *big.Int, radix *big.Int) {
	n = new(big.Int).Set(n)
	m := new(big.Int)
	for i := len(x) - 1; i >= 0; i-- {
		n.QuoRem(n, radix, m)
		x[i] = uint16(m.Uint64())
	}
}

// subtle16 sets dst ^= src for one AES block.
func subtle16(dst, src []byte) {
	for i := range aes.BlockSize {
		dst[i] ^= src[i]
	}
}
