package tokenize

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

const (
	// FF1MaxLength is the longest FF1 input, in characters. SP 800-38G allows
	// up to 2^32; this package stops far below that, at a length that covers
	// any identifier, so that one call has bounded cost.
	FF1MaxLength = 1024
	// FF1MaxTweakSize is the largest FF1 tweak, in bytes.
	FF1MaxTweakSize = 256
)

// max64Length bounds the length of an input whose halves fit in a uint64:
// radix >= 2 and radix^v < 2^64 give v <= 63, so n = u + v <= 126.
const max64Length = 128

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
// One call costs ten AES block encryptions (one per Feistel round), one
// more per 16 bytes of tweak beyond the first few (11 for 16 digits), and
// one more for the block P when the length or the tweak size differs from
// the previous call's, plus the numeral arithmetic: uint64 arithmetic, and
// one heap allocation (the result) for an ASCII alphabet, while
// radix^ceil(length/2) fits in 64 bits (up to 38 digits), math/big beyond.
//
// Most users should use [FPE] instead, which takes its keys from a
// keys.Provider and rotates them. An FF1 is safe for concurrent use.
type FF1 struct {
	block    cipher.Block
	alphabet *Alphabet
	radix    uint32
	// ascii is set when every character of the alphabet is one byte;
	// digits then holds them, by numeral.
	ascii  bool
	digits []byte
	// radixRecip is ceil(2^64 / radix): n / radix is the high word of
	// n * radixRecip for every n below 2^32 (Lemire, Kaser and Kurz, "Faster
	// remainder by direct computation", 2019), one multiplication instead of
	// a division.
	radixRecip uint64
	// radix2Recip is ceil(2^64 / radix^2), set for ASCII alphabets.
	radix2Recip uint64
	// params holds the values that depend only on the length and the tweak
	// size of the last call; calls of one shape, the common case, share them.
	params atomic.Pointer[ff1Params]
}

// ff1Params is what FF1 computes once for an input length n and a tweak of
// t bytes. It is immutable once published.
type ff1Params struct {
	n, t int
	u    int
	// b is the byte length of NUM(B), d that of the part S of R used.
	b, d int
	// pad is the number of zero bytes after the tweak in Q.
	pad int
	// fits is set when radix^v < 2^64; then powU and powV are radix^u and
	// radix^v, and recipU and recipV are floor((2^64-1) / pow) for mod64.
	fits           bool
	powU, powV     uint64
	recipU, recipV uint64
	// wrapU and wrapV are 2^64 mod powU and mod powV.
	wrapU, wrapV uint64
	// cbc is CIPH_K(P), the CBC-MAC state after P, which holds only the
	// radix, u, n and t.
	cbc [aes.BlockSize]byte
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
	radix := uint32(alphabet.Radix())
	f := &FF1{
		block:      block,
		alphabet:   alphabet,
		radix:      radix,
		ascii:      alphabet.other == nil,
		radixRecip: ^uint64(0)/uint64(radix) + 1,
	}
	if f.ascii {
		for _, r := range alphabet.chars {
			f.digits = append(f.digits, byte(r))
		}
		f.radix2Recip = ^uint64(0)/uint64(radix*radix) + 1
	}
	return f, nil
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
	// The common case first: an ASCII alphabet and an input of ASCII
	// characters from it, whose halves fit in a uint64. Anything else, an
	// invalid input included, takes the general path, which checks.
	if f.ascii && len(in) >= f.alphabet.minLen && len(in) <= max64Length {
		if p := f.paramsFor(len(in), len(tweak)); p.fits {
			if out, ok := f.cryptASCII(in, tweak, p, decrypt); ok {
				return out, nil
			}
		}
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
	p := f.paramsFor(n, len(tweak))
	if p.fits {
		a, c := f.feistel64(num64(x[:p.u], f.radix), num64(x[p.u:], f.radix), tweak, p, new([feistelBufSize]byte), decrypt)
		f.str64(x[:p.u], a)
		f.str64(x[p.u:], c)
	} else {
		f.roundsBig(x, newRounds(f.block, p, tweak), decrypt)
	}
	return f.alphabet.string(x, len(in)), nil
}

// cryptASCII is crypt for an ASCII alphabet when radix^v fits in a uint64,
// without numeral slices: it reads the halves straight from in and writes
// the characters straight into the result. It returns false, having done
// nothing, when in holds a byte outside the alphabet.
func (f *FF1) cryptASCII(in string, tweak []byte, p *ff1Params, decrypt bool) (string, bool) {
	ascii := &f.alphabet.ascii
	radix := uint64(f.radix)
	a, okA := numASCII(ascii, in[:p.u], radix)
	c, okC := numASCII(ascii, in[p.u:], radix)
	if !okA || !okC {
		return "", false
	}
	// One allocation serves as the AES block of the rounds and then as the
	// result's bytes, which nothing writes after unsafe.String.
	out := make([]byte, max(len(in), feistelBufSize))
	a, c = f.feistel64(a, c, tweak, p, (*[feistelBufSize]byte)(out), decrypt)
	f.strASCII(out[:p.u], a)
	f.strASCII(out[p.u:len(in)], c)
	clear(out[len(in):]) // the rest of the last R
	return unsafe.String(&out[0], len(in)), true
}

// paramsFor returns the parameters for n characters and a t-byte tweak,
// from the cache when the last call had the same shape.
func (f *FF1) paramsFor(n, t int) *ff1Params {
	if p := f.params.Load(); p != nil && p.n == n && p.t == t {
		return p
	}
	p := &ff1Params{n: n, t: t, u: n / 2}
	v := n - p.u
	// b is ceil(ceil(v*log2(radix))/8), and ceil(v*log2(radix)) is the bit
	// length of radix^v - 1.
	if powV, fits := pow64(f.radix, v); fits {
		powU, _ := pow64(f.radix, p.u)
		p.fits, p.powU, p.powV = true, powU, powV
		p.recipU, p.recipV = ^uint64(0)/powU, ^uint64(0)/powV
		p.wrapU, p.wrapV = (^uint64(0)%powU+1)%powU, (^uint64(0)%powV+1)%powV
		p.b = (bits.Len64(powV-1) + 7) / 8
	} else {
		pow := new(big.Int).Exp(big.NewInt(int64(f.radix)), big.NewInt(int64(v)), nil)
		p.b = (pow.Sub(pow, bigOne).BitLen() + 7) / 8
	}
	p.d = 4*((p.b+3)/4) + 4
	p.pad = ((-t-p.b-1)%aes.BlockSize + aes.BlockSize) % aes.BlockSize

	// P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4.
	c := &p.cbc
	c[0], c[1], c[2] = 1, 2, 1
	c[3], c[4], c[5] = byte(f.radix>>16), byte(f.radix>>8), byte(f.radix)
	c[6] = 10
	c[7] = byte(p.u)
	binary.BigEndian.PutUint32(c[8:12], uint32(n))
	binary.BigEndian.PutUint32(c[12:16], uint32(t))
	f.block.Encrypt(c[:], c[:])
	f.params.Store(p)
	return p
}

// feistelBufSize is the scratch feistel64 needs: one block, encrypted in
// place.
const feistelBufSize = aes.BlockSize

// feistel64 runs the ten rounds of FF1 (SP 800-38G Algorithms 7 and 8) on
// the halves a = NUM(A) and c = NUM(B) when radix^v fits in a uint64, and
// returns the new halves. They are kept as numbers, since
// NUM_radix(STR_radix(c)) = c: the strings are only needed at the ends.
// buf is scratch on the heap (cipher.Block's arguments escape).
func (f *FF1) feistel64(a, c uint64, tweak []byte, p *ff1Params, buf *[feistelBufSize]byte, decrypt bool) (uint64, uint64) {
	in, out := buf, buf
	// Q = T || [0]^pad || [i]^1 || [NUM(B)]^b. With b <= 8 the last block of
	// Q holds [i] and NUM(B); the blocks before it hold only T and zeros and
	// are the same in every round, so the CBC-MAC runs over them once.
	hi := binary.BigEndian.Uint64(p.cbc[:8])
	lo := binary.BigEndian.Uint64(p.cbc[8:])
	fixed := (p.t + p.pad) / aes.BlockSize * aes.BlockSize
	for off := 0; off < fixed; off += aes.BlockSize {
		tHi, tLo := tweakWords(in, tweak, off)
		hi, lo = encryptWords(f.block, in, hi^tHi, lo^tLo)
	}
	if fixed < len(tweak) {
		tHi, tLo := tweakWords(in, tweak, fixed)
		hi, lo = hi^tHi, lo^tLo
	}
	// NUM(B) < 2^(8b) fills the last b bytes of the block, and [i] the byte
	// before them: in lo when b < 8, the last byte of hi when b = 8 (a shift
	// by 64 gives 0).
	bBits := uint(8 * p.b)
	mods := [2]uint64{p.powU, p.powV}
	recips := [2]uint64{p.recipU, p.recipV}
	wraps := [2]uint64{p.wrapU, p.wrapV}
	for j := range 10 {
		// Q carries B when encrypting and A when decrypting.
		i, num := j, c
		if decrypt {
			i, num = 9-j, a
		}
		binary.BigEndian.PutUint64(in[:8], hi^uint64(i)>>(64-bBits))
		binary.BigEndian.PutUint64(in[8:], lo^uint64(i)<<bBits^num)
		f.block.Encrypt(out[:], in[:])
		// R = PRF(P || Q), S is its first d bytes, and the new half is
		// (NUM(A) + NUM(S)) mod radix^m when encrypting, (NUM(B) - NUM(S))
		// mod radix^m when decrypting; a and c are below mod.
		mod, recip := mods[i&1], recips[i&1]
		if p.d == 8 {
			r := binary.BigEndian.Uint64(out[:8])
			if !decrypt {
				a, c = c, addMod(a, r, mod, recip)
			} else {
				c, a = a, subMod(c, r, mod, recip, wraps[i&1])
			}
			continue
		}
		// d = 12 (b > 4): reduce the 96 bits of S first.
		y := bits.Rem64(uint64(binary.BigEndian.Uint32(out[:4])), binary.BigEndian.Uint64(out[4:12]), mod)
		if !decrypt {
			a, c = c, addMod(a, y, mod, recip)
		} else {
			diff := c - y
			if c < y { // a conditional move, not a branch
				diff += mod
			}
			c, a = a, diff
		}
	}
	return a, c
}

// addMod returns (a + r) mod m, for a < m and any r, given
// recip = floor((2^64-1) / m). The sum overflows 64 bits only when
// r > 2^64 - m: about once in 2^32 FF1 calls over 16 digits.
func addMod(a, r, m, recip uint64) uint64 {
	sum, carry := bits.Add64(a, r, 0)
	if carry != 0 {
		return bits.Rem64(1, sum, m)
	}
	return mod64(sum, m, recip)
}

// subMod returns (c - r) mod m, for c < m <= 2^63 and any r, given
// recip = floor((2^64-1) / m) and wrap = 2^64 mod m. Since -r = ^r + 1 -
// 2^64, c - r = ^r + k (mod m) with k = c + 1 + m - wrap in [1, 2m], which
// takes one reduction, as addMod does, instead of a reduction of r and a
// subtraction after it.
func subMod(c, r, m, recip, wrap uint64) uint64 {
	sum, carry := bits.Add64(^r, c+1+m-wrap, 0)
	if carry != 0 {
		return bits.Rem64(1, sum, m)
	}
	return mod64(sum, m, recip)
}

// tweakWords returns bytes off to off+15 of T || [0]^pad as two big-endian
// words, through buf.
func tweakWords(buf *[aes.BlockSize]byte, tweak []byte, off int) (hi, lo uint64) {
	*buf = [aes.BlockSize]byte{}
	if off < len(tweak) {
		copy(buf[:], tweak[off:])
	}
	return binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])
}

// encryptWords sets buf to CIPH_K(hi || lo) and returns it as two words.
func encryptWords(block cipher.Block, buf *[aes.BlockSize]byte, hi, lo uint64) (uint64, uint64) {
	binary.BigEndian.PutUint64(buf[:8], hi)
	binary.BigEndian.PutUint64(buf[8:], lo)
	block.Encrypt(buf[:], buf[:])
	return binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])
}

// mod64 returns y mod m, given recip = floor((2^64-1) / m) and m >= 2
// (Barrett reduction). recip > 2^64/m - 1, so the estimate
// q = floor(y*recip / 2^64) is floor(y/m) or one less, and one conditional
// subtraction finishes.
func mod64(y, m, recip uint64) uint64 {
	q, _ := bits.Mul64(y, recip)
	r := y - q*m
	if r >= m { // a conditional move, not a branch
		r -= m
	}
	return r
}

// rounds holds what the ten rounds of one math/big FF1 call share: the
// CBC-MAC state after P and the round-independent blocks of Q, and the rest
// of Q.
type rounds struct {
	block cipher.Block
	// state is the CBC-MAC chaining value after P || the whole blocks of Q
	// that hold only the tweak and padding.
	state [aes.BlockSize]byte
	// tail is the rest of Q: its last bytes are [i]^1 || [NUM(B)]^b.
	tail []byte
	p    *ff1Params
	// out receives R.
	out [aes.BlockSize]byte
}

func newRounds(block cipher.Block, p *ff1Params, tweak []byte) *rounds {
	r := &rounds{block: block, p: p, state: p.cbc}
	// Q = T || [0]^pad || [i]^1 || [NUM(B)]^b.
	q := make([]byte, p.t+p.pad+1+p.b)
	copy(q, tweak)
	// The blocks of Q before the one that holds [i]^1 never change.
	fixed := (p.t + p.pad) / aes.BlockSize * aes.BlockSize
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
	r.tail[len(r.tail)-r.p.b-1] = byte(i)
	out := &r.out
	*out = r.state
	for off := 0; off < len(r.tail); off += aes.BlockSize {
		subtle16(out[:], r.tail[off:off+aes.BlockSize])
		r.block.Encrypt(out[:], out[:])
	}
	return out
}

// num returns the slot for [NUM(B)]^b in Q.
func (r *rounds) num() []byte { return r.tail[len(r.tail)-r.p.b:] }

// roundsBig is the Feistel network for any radix and length, on math/big,
// over the numerals x in place.
func (f *FF1) roundsBig(x []uint16, r *rounds, decrypt bool) {
	u, d := r.p.u, r.p.d
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
func (f *FF1) str64(x []uint16, n uint64) {
	radix := uint64(f.radix)
	for i := len(x) - 1; i >= 0; i-- {
		q := f.div(n)
		x[i] = uint16(n - q*radix)
		n = q
	}
}

// div returns n / radix: below 2^32 by one multiplication through
// radixRecip.
func (f *FF1) div(n uint64) uint64 {
	if n < 1<<32 {
		q, _ := bits.Mul64(n, f.radixRecip)
		return q
	}
	return n / uint64(f.radix)
}

// numASCII returns NUM_radix of the ASCII string s, through the alphabet's
// table of numerals plus one, and false when s holds a byte outside it. It
// takes two characters a step, which halves the chain of multiplications.
func numASCII(ascii *[utf8.RuneSelf]uint32, s string, radix uint64) (uint64, bool) {
	var n uint64
	if len(s)%2 == 1 {
		d := ascii[s[0]&0x7f]
		if s[0] >= utf8.RuneSelf || d == 0 {
			return 0, false
		}
		n, s = uint64(d-1), s[1:]
	}
	for ; len(s) >= 2; s = s[2:] {
		d0, d1 := ascii[s[0]&0x7f], ascii[s[1]&0x7f]
		if s[0]|s[1] >= utf8.RuneSelf || d0 == 0 || d1 == 0 {
			return 0, false
		}
		n = n*radix*radix + (uint64(d0-1)*radix + uint64(d1-1))
	}
	return n, true
}

// strASCII writes STR^len(out)_radix(n) into out as the characters of an
// ASCII alphabet, two a step below 2^32 (radix^2 <= 2^14 there), which
// halves the chain of divisions.
func (f *FF1) strASCII(out []byte, n uint64) {
	radix := uint64(f.radix)
	i := len(out) - 1
	for ; i >= 0 && n >= 1<<32; i-- {
		q := n / radix
		out[i] = f.digits[n-q*radix]
		n = q
	}
	for ; i >= 1; i -= 2 {
		q, _ := bits.Mul64(n, f.radix2Recip) // n / radix^2
		r := n - q*radix*radix
		hi, _ := bits.Mul64(r, f.radixRecip) // r / radix
		out[i-1], out[i] = f.digits[hi], f.digits[r-hi*radix]
		n = q
	}
	if i == 0 {
		out[0] = f.digits[n]
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
