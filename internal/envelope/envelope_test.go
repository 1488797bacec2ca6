package envelope

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample(m Mode, n int) []byte {
	ct := make([]byte, Overhead(m)+n)
	ct[0] = 0x01
	ct[1], ct[2], ct[3], ct[4] = 0x12, 0x34, 0x56, 0x78
	for i := 5; i < len(ct); i++ {
		ct[i] = byte(i * 31)
	}
	return ct
}

func TestRoundTrip(t *testing.T) {
	for _, m := range []Mode{ModeAEAD, ModeDeterministic} {
		for _, n := range []int{0, 1, 2, 3, 100} {
			ct := sample(m, n)
			text := AppendText(nil, m, ct)
			if len(text) != TextSize(m, n) {
				t.Errorf("len(text) = %d, want TextSize = %d", len(text), TextSize(m, n))
			}
			p, err := ParseText(string(text), m)
			if err != nil || p.KeyID != 0x12345678 || !bytes.Equal(p.Ciphertext, ct) {
				t.Errorf("ParseText(AppendText) = %+v, %v", p, err)
			}
			raw := AppendBinary(nil, m, ct)
			if len(raw) != BinarySize(m, n) {
				t.Errorf("len(raw) = %d, want BinarySize = %d", len(raw), BinarySize(m, n))
			}
			p, err = ParseBinary(raw, m)
			if err != nil || p.KeyID != 0x12345678 || !bytes.Equal(p.Ciphertext, ct) {
				t.Errorf("ParseBinary(AppendBinary) = %+v, %v", p, err)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	good := string(AppendText(nil, ModeAEAD, sample(ModeAEAD, 4)))
	for name, s := range map[string]string{
		"empty":         "",
		"prefix only":   "tl1e:",
		"wrong mode":    "tl1d:" + good[5:],
		"wrong version": "tl2e:" + good[5:],
		"short":         good[:20],
		"padding":       good + "==",
		"newline":       good[:10] + "\n" + good[10:],
		"std alphabet":  "tl1e:+/" + good[7:],
		"not tink":      string(AppendText(nil, ModeAEAD, append([]byte{0x00}, sample(ModeAEAD, 4)[1:]...))),
	} {
		if _, err := ParseText(s, ModeAEAD); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseText(%q) error = %v, want ErrMalformed", name, s, err)
		}
	}
}

// FuzzParseText checks that a text envelope has one form only: whatever
// parses serialises back to the input (no malleable encodings).
func FuzzParseText(f *testing.F) {
	f.Add(string(AppendText(nil, ModeAEAD, sample(ModeAEAD, 3))))
	f.Add(string(AppendText(nil, ModeAEAD, sample(ModeAEAD, 0))))
	f.Add("tl1e:AQ")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []Mode{ModeAEAD, ModeDeterministic} {
			p, err := ParseText(s, m)
			if err != nil {
				continue
			}
			if back := string(AppendText(nil, m, p.Ciphertext)); back != s {
				t.Fatalf("ParseText(%q) re-encodes as %q", s, back)
			}
		}
	})
}

// FuzzParseBinary is FuzzParseText for raw envelopes.
func FuzzParseBinary(f *testing.F) {
	f.Add(AppendBinary(nil, ModeDeterministic, sample(ModeDeterministic, 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []Mode{ModeAEAD, ModeDeterministic} {
			p, err := ParseBinary(b, m)
			if err != nil {
				continue
			}
			if back := AppendBinary(nil, m, p.Ciphertext); !bytes.Equal(back, b) {
				t.Fatalf("ParseBinary(%x) re-encodes as %x", b, back)
			}
		}
	})
}

func TestToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tok  Token
		want string
	}{
		{"vault", Token{Mode: ModeVaultToken, Token: "4111-xxxx"}, "tl1t:4111-xxxx"},
		{"vault empty", Token{Mode: ModeVaultToken}, "tl1t:"},
		{"ff1", Token{Mode: ModeFF1Token, KeyID: 0x0a0b0c0d, Token: "123456"}, "tl1f:0a0b0c0d:123456"},
		{"ff1 empty", Token{Mode: ModeFF1Token}, "tl1f:"},
	}
	for _, tt := range tests {
		got := string(AppendToken(nil, tt.tok))
		require.Equal(t, tt.want, got, tt.name)
		back, err := ParseToken(got)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.tok, back, tt.name)
	}
	for _, bad := range []string{"tl1e:AQ", "tl1f:0A0B0C0D:1", "tl1f:0a0b0c0d1", "tl1f:0a0b0c0d:", "tl1f:zz0b0c0d:1", "plain"} {
		_, err := ParseToken(bad)
		assert.ErrorIs(t, err, ErrMalformed, "ParseToken(%q)", bad)
	}
	assert.True(t, HasTokenPrefix("tl1t:x"))
	assert.False(t, HasTokenPrefix("tl1e:x"))
}
