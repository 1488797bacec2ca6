package tokenize_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tillid/tillid/tokenize"
)

type ff1Vector struct {
	Sample     int    `json:"sample"`
	Key        string `json:"key"`
	Radix      int    `json:"radix"`
	Tweak      string `json:"tweak"`
	Plaintext  string `json:"plaintext"`
	Ciphertext string `json:"ciphertext"`
}

func readFF1Vectors(t *testing.T) []ff1Vector {
	t.Helper()
	data, err := os.ReadFile("testdata/ff1_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []ff1Vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) != 9 {
		t.Fatalf("testdata/ff1_vectors.json has %d vectors, want NIST's 9", len(file.Vectors))
	}
	return file.Vectors
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFF1Vectors(t *testing.T) {
	for _, v := range readFF1Vectors(t) {
		alphabet := map[int]*tokenize.Alphabet{10: tokenize.Digits, 36: tokenize.LowerAlphanumeric}[v.Radix]
		c, err := tokenize.NewFF1(mustHex(t, v.Key), alphabet)
		if err != nil {
			t.Fatalf("sample %d: NewFF1: %v", v.Sample, err)
		}
		tweak := mustHex(t, v.Tweak)
		got, err := c.Encrypt(v.Plaintext, tweak)
		if err != nil || got != v.Ciphertext {
			t.Errorf("sample %d: Encrypt(%q) = %q, %v, want %q", v.Sample, v.Plaintext, got, err, v.Ciphertext)
		}
		got, err = c.Decrypt(v.Ciphertext, tweak)
		if err != nil || got != v.Plaintext {
			t.Errorf("sample %d: Decrypt(%q) = %q, %v, want %q", v.Sample, v.Ciphertext, got, err, v.Plaintext)
		}
	}
}

func TestFF1RoundTrip(t *testing.T) {
	key := mustHex(t, "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94")
	binary, _ := tokenize.NewAlphabet("01")
	hexLower, _ := tokenize.NewAlphabet("0123456789abcdef")
	danish, _ := tokenize.NewAlphabet("abcdefghijklmnopqrstuvwxyzæøå")
	var wide strings.Builder
	for r := rune(0x10000); r < 0x10000+65536; r++ {
		wide.WriteRune(r)
	}
	wideAlphabet, err := tokenize.NewAlphabet(wide.String())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		alphabet *tokenize.Alphabet
		lengths  []int
		reason   string
	}{
		{"digits", tokenize.Digits, []int{6, 7, 16, 19, 20, 38, 39, 40, 100, tokenize.FF1MaxLength}, "19 digits fit in uint64, 40 do not: both Feistel paths"},
		{"radix36", tokenize.LowerAlphanumeric, []int{4, 5, 12, 24, 25, 26, 64}, ""},
		{"binary", binary, []int{20, 21, 64, 128, 129, 130, 200}, "radix^v = 2^64 exactly must leave the uint64 path"},
		{"hex", hexLower, []int{5, 16, 31, 32, 33, 34}, ""},
		{"danish", danish, []int{5, 6, 30}, "non-ASCII characters"},
		{"radix65536", wideAlphabet, []int{2, 3, 8, 9, 40}, "the largest radix, 3-byte radix in P"},
	}
	for _, tt := range tests {
		c, err := tokenize.NewFF1(key, tt.alphabet)
		if err != nil {
			t.Fatal(err)
		}
		chars := []rune(tt.alphabet.String())
		for _, n := range tt.lengths {
			for _, tweak := range [][]byte{nil, []byte("record-42"), make([]byte, tokenize.FF1MaxTweakSize)} {
				in := make([]rune, n)
				for i := range in {
					in[i] = chars[(i*7+n)%len(chars)]
				}
				plaintext := string(in)
				ct, err := c.Encrypt(plaintext, tweak)
				if err != nil {
					t.Fatalf("%s: Encrypt(%d characters): %v", tt.name, n, err)
				}
				if got := []rune(ct); len(got) != n {
					t.Errorf("%s: Encrypt(%d characters) has %d characters", tt.name, n, len(got))
				}
				for _, r := range ct {
					if !tt.alphabet.Contains(r) {
						t.Fatalf("%s: Encrypt(%d characters) left the alphabet", tt.name, n)
					}
				}
				if ct == plaintext {
					t.Errorf("%s: Encrypt(%d characters) is the identity", tt.name, n)
				}
				pt, err := c.Decrypt(ct, tweak)
				if err != nil || pt != plaintext {
					t.Errorf("%s: Decrypt(Encrypt(x)) != x for %d characters (err %v)", tt.name, n, err)
				}
			}
		}
	}
}

func TestFF1TweakChangesOutput(t *testing.T) {
	c, err := tokenize.NewFF1(make([]byte, 32), tokenize.Digits)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Encrypt("4111111111111111", []byte("a"))
	b, _ := c.Encrypt("4111111111111111", []byte("b"))
	if a == b {
		t.Errorf("Encrypt under tweaks a and b = %q both", a)
	}
}

func TestFF1Errors(t *testing.T) {
	c, err := tokenize.NewFF1(make([]byte, 16), tokenize.Digits)
	if err != nil {
		t.Fatal(err)
	}
	c36, err := tokenize.NewFF1(make([]byte, 16), tokenize.LowerAlphanumeric)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       *tokenize.FF1
		in      string
		tweak   []byte
		wantErr string
		invalid bool
	}{
		{"empty", c, "", nil, "0 characters is too short", true},
		{"5 digits", c, "12345", nil, "at least 6 characters", true},
		{"3 radix-36", c36, "abc", nil, "at least 4 characters", true},
		{"oversized", c, strings.Repeat("1", tokenize.FF1MaxLength+1), nil, "longer than 1024", true},
		{"out of alphabet", c, "1234a67890", nil, "character 5 of the input is outside", true},
		{"upper case radix-36", c36, "ABCDEF", nil, "character 1", true},
		{"tweak too long", c, "1234567890", make([]byte, tokenize.FF1MaxTweakSize+1), "tweak is 257 bytes", false},
	}
	for _, tt := range tests {
		for _, f := range []func(string, []byte) (string, error){tt.c.Encrypt, tt.c.Decrypt} {
			got, err := f(tt.in, tt.tweak)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "tokenize: ") {
				t.Errorf("%s: got %q, %v, want error containing %q", tt.name, got, err, tt.wantErr)
				continue
			}
			if errors.Is(err, tokenize.ErrInvalidValue) != tt.invalid {
				t.Errorf("%s: errors.Is(%v, ErrInvalidValue) = %v, want %v", tt.name, err, !tt.invalid, tt.invalid)
			}
			if len(tt.in) >= 4 && strings.Contains(err.Error(), tt.in) {
				t.Errorf("%s: error %q carries the input", tt.name, err)
			}
		}
	}
}

func TestNewFF1Errors(t *testing.T) {
	for _, n := range []int{0, 8, 15, 17, 31, 33, 64} {
		if _, err := tokenize.NewFF1(make([]byte, n), tokenize.Digits); err == nil || !strings.HasPrefix(err.Error(), "tokenize: FF1 key is") {
			t.Errorf("NewFF1(%d-byte key) = %v, want a key-size error", n, err)
		}
	}
	if _, err := tokenize.NewFF1(make([]byte, 16), nil); err == nil {
		t.Errorf("NewFF1(nil alphabet) = nil error")
	}
	if _, err := tokenize.NewFF1(make([]byte, 16), &tokenize.Alphabet{}); err == nil {
		t.Errorf("NewFF1(zero alphabet) = nil error")
	}
}

func TestNewAlphabet(t *testing.T) {
	tests := []struct {
		chars      string
		wantErr    bool
		wantMinLen int
	}{
		{"0123456789", false, 6},
		{"0123456789abcdefghijklmnopqrstuvwxyz", false, 4},
		{"01", false, 20},
		{"0", true, 0},
		{"", true, 0},
		{"0120", true, 0},
		{"ææ", true, 0},
		{"\xff\xfe", true, 0},
	}
	for _, tt := range tests {
		a, err := tokenize.NewAlphabet(tt.chars)
		if (err != nil) != tt.wantErr {
			t.Errorf("NewAlphabet(%q) error = %v, want error %v", tt.chars, err, tt.wantErr)
			continue
		}
		if err == nil && a.MinLength() != tt.wantMinLen {
			t.Errorf("NewAlphabet(%q).MinLength() = %d, want %d", tt.chars, a.MinLength(), tt.wantMinLen)
		}
	}
}
