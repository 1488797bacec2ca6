package tokenize

import (
	"bytes"
	"math"
	"math/big"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFF1PathsAgree checks an internal invariant: the uint64 Feistel path
// and the math/big one compute the same permutation. The NIST samples and
// short inputs take the uint64 path, so each length that fits is also run
// down the math/big path here.
func TestFF1PathsAgree(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, alphabet := range []*Alphabet{Digits, LowerAlphanumeric, mustAlphabet("01"), mustAlphabet("abcdefghijklmnopqrstuvwxyzæøå"),
		mustAlphabet("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")} {
		f, err := NewFF1(key, alphabet)
		require.NoError(t, err)
		chars := []rune(alphabet.String())
		for n := alphabet.MinLength(); n <= max64Length; n++ {
			if _, fits := pow64(f.radix, n-n/2); !fits {
				break
			}
			for _, tweak := range [][]byte{nil, []byte("0123456789abcdefghij"), bytes.Repeat([]byte{9}, 45)} {
				in := make([]rune, n)
				for i := range in {
					in[i] = chars[(i*5+3)%len(chars)]
				}
				fast, err := f.Encrypt(string(in), tweak)
				require.NoError(t, err)

				p := f.paramsFor(n, len(tweak))
				require.True(t, p.fits)
				x, err := alphabet.numerals(string(in))
				require.NoError(t, err)
				f.roundsBig(x, newRounds(f.block, p, tweak), false)
				assert.Equal(t, fast, alphabet.string(x, 0), "radix %d length %d tweak %d bytes: uint64 and math/big encryptions differ", f.radix, n, len(tweak))
				f.roundsBig(x, newRounds(f.block, p, tweak), true)
				assert.Equal(t, string(in), alphabet.string(x, 0), "radix %d length %d: math/big decryption does not invert", f.radix, n)
			}
		}
	}
}

// TestMod64 checks the Barrett reduction against the % operator at the
// edges of its range.
func TestMod64(t *testing.T) {
	for _, m := range []uint64{2, 3, 10, 36, 1 << 32, 1e8, 1e9 + 7, 1e19, math.MaxUint64 / 3, math.MaxUint64 - 1, math.MaxUint64} {
		recip := ^uint64(0) / m
		for _, y := range []uint64{0, 1, m - 1, m, m + 1, 2*m - 1, 1 << 63, math.MaxUint64 - 1, math.MaxUint64} {
			assert.Equal(t, y%m, mod64(y, m, recip), "mod64(%d, %d)", y, m)
		}
	}
}

// TestStr64 checks the reciprocal division of str64 against math/big for
// every radix size class, on values below and above 2^32.
func TestStr64(t *testing.T) {
	for _, radix := range []uint32{2, 3, 10, 36, 62, 255, 1000, 65535, 65536} {
		f := &FF1{radix: radix, radixRecip: ^uint64(0)/uint64(radix) + 1}
		for _, n := range []uint64{0, 1, uint64(radix) - 1, uint64(radix), 1<<32 - 1, 1 << 32, 123456789, math.MaxUint64} {
			digits := (bits.Len64(n) + 1) // enough numerals for any radix >= 2
			got := make([]uint16, digits)
			f.str64(got, n)
			want := make([]uint16, digits)
			strBig(want, new(big.Int).SetUint64(n), big.NewInt(int64(radix)))
			assert.Equal(t, want, got, "str64(%d) in radix %d", n, radix)
		}
	}
}

// TestAddSubMod checks the one-reduction round sums against math/big,
// with the rare carries of ^r + k and a + r among the inputs.
func TestAddSubMod(t *testing.T) {
	for _, m := range []uint64{2, 10, 36, 1e8, 1e9 + 7, 1 << 32, 1 << 62, 1 << 63} {
		recip := ^uint64(0) / m
		wrap := (^uint64(0)%m + 1) % m
		bm := new(big.Int).SetUint64(m)
		for _, x := range []uint64{0, 1, m / 2, m - 1} {
			for _, r := range []uint64{0, 1, m - 1, m, 2*m - 1, 1 << 63, math.MaxUint64 - m, math.MaxUint64 - 1, math.MaxUint64} {
				bx, br := new(big.Int).SetUint64(x), new(big.Int).SetUint64(r)
				sum := new(big.Int).Add(bx, br)
				assert.Equal(t, sum.Mod(sum, bm).Uint64(), addMod(x, r, m, recip), "addMod(%d, %d, %d)", x, r, m)
				diff := new(big.Int).Sub(bx, br)
				assert.Equal(t, diff.Mod(diff, bm).Uint64(), subMod(x, r, m, recip, wrap), "subMod(%d, %d, %d)", x, r, m)
			}
		}
	}
}
