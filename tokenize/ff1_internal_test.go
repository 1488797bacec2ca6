package tokenize

import (
	"bytes"
	"slices"
	"testing"
)

// TestFF1PathsAgree checks an internal invariant: the uint64 Feistel path
// and the math/big one compute the same permutation. The NIST samples and
// short inputs take the uint64 path, so each length that fits is also run
// down the math/big path here.
func TestFF1PathsAgree(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, alphabet := range []*Alphabet{Digits, LowerAlphanumeric, mustAlphabet("01"), mustAlphabet("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")} {
		f, err := NewFF1(key, alphabet)
		if err != nil {
			t.Fatal(err)
		}
		for n := alphabet.MinLength(); n <= 130; n++ {
			u, v := n/2, n-n/2
			powV, fits := pow64(f.radix, v)
			if !fits {
				break
			}
			for _, tweak := range [][]byte{nil, []byte("0123456789abcdefghij")} {
				x := make([]uint16, n)
				for i := range x {
					x[i] = uint16((i*5 + 3) % int(f.radix))
				}
				want := append([]uint16(nil), x...)
				fast := append([]uint16(nil), x...)
				f.cryptNumerals(fast, tweak, false)

				b := (bitLen64(powV-1) + 7) / 8
				d := 4*((b+3)/4) + 4
				slow := append([]uint16(nil), x...)
				f.roundsBig(slow, u, b, d, newRounds(f.block, f.radix, u, n, tweak, b), false)
				if !slices.Equal(fast, slow) {
					t.Fatalf("radix %d length %d: uint64 and math/big encryptions differ", f.radix, n)
				}
				f.roundsBig(slow, u, b, d, newRounds(f.block, f.radix, u, n, tweak, b), true)
				if !slices.Equal(slow, want) {
					t.Fatalf("radix %d length %d: math/big decryption does not invert", f.radix, n)
				}
			}
		}
	}
}

func bitLen64(x uint64) int {
	n := 0
	for ; x != 0; x >>= 1 {
		n++
	}
	return n
}
