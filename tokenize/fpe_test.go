package tokenize_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

func newFPE(t testing.TB, p keys.Provider, domain string, a *tokenize.Alphabet, opts ...tokenize.Option) *tokenize.FPE {
	t.Helper()
	f, err := tokenize.NewFPE(p, domain, a, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFPERoundTrip(t *testing.T) {
	ctx := context.Background()
	p := keys.NewMemory()
	tests := []struct {
		name     string
		alphabet *tokenize.Alphabet
		opts     []tokenize.Option
		value    string
		keep     int
	}{
		{"cpr", tokenize.Digits, nil, "0101901234", 0},
		{"card", tokenize.Digits, []tokenize.Option{tokenize.WithVisibleSuffix(4)}, "4111111111111111", 4},
		{"account", tokenize.LowerAlphanumeric, nil, "acct9x2k", 0},
		{"short", tokenize.Digits, nil, "123456", 0},
	}
	for _, tt := range tests {
		f := newFPE(t, p, tt.name, tt.alphabet, tt.opts...)
		for _, tweak := range [][]byte{nil, []byte("customer-17")} {
			tok, keyID, err := f.Tokenize(ctx, tt.value, tweak)
			if err != nil {
				t.Fatalf("%s: Tokenize: %v", tt.name, err)
			}
			if len(tok) != len(tt.value) || tok == tt.value {
				t.Errorf("%s: token has length %d (want %d), equals value %v", tt.name, len(tok), len(tt.value), tok == tt.value)
			}
			if tt.keep > 0 && tok[len(tok)-tt.keep:] != tt.value[len(tt.value)-tt.keep:] {
				t.Errorf("%s: token does not keep the last %d characters", tt.name, tt.keep)
			}
			for _, r := range tok {
				if !tt.alphabet.Contains(r) {
					t.Errorf("%s: token leaves the alphabet", tt.name)
				}
			}
			again, keyID2, _ := f.Tokenize(ctx, tt.value, tweak)
			if again != tok || keyID2 != keyID {
				t.Errorf("%s: FPE is not deterministic", tt.name)
			}
			got, err := f.Detokenize(ctx, tok, keyID, tweak)
			if err != nil || got != tt.value {
				t.Errorf("%s: Detokenize(Tokenize(v)) = %q, %v, want %q", tt.name, got, err, tt.value)
			}
		}
	}
}

func TestFPEDomainsAndSuffixDiffer(t *testing.T) {
	ctx := context.Background()
	p := keys.NewMemory()
	a := newFPE(t, p, "a", tokenize.Digits, tokenize.WithKeyName("shared"))
	b := newFPE(t, p, "b", tokenize.Digits, tokenize.WithKeyName("shared"))
	ta, _, _ := a.Tokenize(ctx, "0101901234", nil)
	tb, _, _ := b.Tokenize(ctx, "0101901234", nil)
	if ta == tb {
		t.Errorf("two domains sharing a key name gave the same token")
	}
	s := newFPE(t, p, "card", tokenize.Digits, tokenize.WithVisibleSuffix(4))
	t1, _, _ := s.Tokenize(ctx, "41111111111111111234", nil)
	t2, _, _ := s.Tokenize(ctx, "41111111111111115678", nil)
	if t1[:16] == t2[:16] {
		t.Errorf("equal prefixes with different visible suffixes encrypted alike")
	}
}

func TestFPERotation(t *testing.T) {
	ctx := context.Background()
	p := keys.NewMemory()
	f := newFPE(t, p, "cpr", tokenize.Digits)
	old, oldID, err := f.Tokenize(ctx, "0101901234", nil)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := p.Rotate(ctx, "tokenize-cpr", keys.KindPRF)
	if err != nil {
		t.Fatal(err)
	}
	tok, keyID, err := f.Tokenize(ctx, "0101901234", nil)
	if err != nil {
		t.Fatal(err)
	}
	if keyID != newID || keyID == oldID || tok == old {
		t.Errorf("after rotation: key ID %d (want %d), token unchanged %v", keyID, newID, tok == old)
	}
	if v, err := f.Detokenize(ctx, old, oldID, nil); err != nil || v != "0101901234" {
		t.Errorf("Detokenize under the old key = %q, %v", v, err)
	}
	if err := p.Disable(ctx, "tokenize-cpr", keys.KindPRF, oldID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Detokenize(ctx, old, oldID, nil); !errors.Is(err, keys.ErrKeyDisabled) {
		t.Errorf("Detokenize under a disabled key: err = %v, want keys.ErrKeyDisabled", err)
	}
	if _, err := f.Detokenize(ctx, old, 12345, nil); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Errorf("Detokenize under an unknown key: err = %v, want keys.ErrKeyNotFound", err)
	}
}

func TestFPEErrors(t *testing.T) {
	ctx := context.Background()
	p := keys.NewMemory()
	f := newFPE(t, p, "cpr", tokenize.Digits)
	card := newFPE(t, p, "card", tokenize.Digits, tokenize.WithVisibleSuffix(4))
	tests := []struct {
		name    string
		f       *tokenize.FPE
		value   string
		tweak   []byte
		wantErr string
		invalid bool
	}{
		{"empty", f, "", nil, "too short", true},
		{"five digits", f, "12345", nil, "at least 6 characters", true},
		{"suffix leaves too few", card, "123456789", nil, "too short", true},
		{"shorter than suffix", card, "123", nil, "shorter than its visible suffix", true},
		{"dash", f, "010190-1234", nil, "character 7", true},
		{"oversized", f, strings.Repeat("9", tokenize.FF1MaxLength+1), nil, "longer than", true},
		{"not UTF-8", f, "12345\xff789", nil, "not valid UTF-8", true},
		{"tweak", f, "0101901234", make([]byte, tokenize.FPEMaxTweakSize+1), "tweak is 129 bytes", false},
	}
	for _, tt := range tests {
		_, _, err := tt.f.Tokenize(ctx, tt.value, tt.tweak)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "tokenize: ") {
			t.Errorf("%s: Tokenize err = %v, want one containing %q", tt.name, err, tt.wantErr)
			continue
		}
		if errors.Is(err, tokenize.ErrInvalidValue) != tt.invalid {
			t.Errorf("%s: errors.Is(err, ErrInvalidValue) = %v, want %v", tt.name, !tt.invalid, tt.invalid)
		}
		if len(tt.value) >= 5 && strings.Contains(err.Error(), tt.value[:5]) {
			t.Errorf("%s: error %q carries the value", tt.name, err)
		}
	}
}

func TestNewFPEErrors(t *testing.T) {
	p := keys.NewMemory()
	tests := []struct {
		name   string
		domain string
		a      *tokenize.Alphabet
		opts   []tokenize.Option
	}{
		{"empty domain", "", tokenize.Digits, nil},
		{"upper-case domain", "CPR", tokenize.Digits, nil},
		{"nil alphabet", "cpr", nil, nil},
		{"format option", "cpr", tokenize.Digits, []tokenize.Option{tokenize.WithFormat(tokenize.RandomDigits())}},
		{"ttl option", "cpr", tokenize.Digits, []tokenize.Option{tokenize.WithTTL(1)}},
		{"suffix too long", "cpr", tokenize.Digits, []tokenize.Option{tokenize.WithVisibleSuffix(17)}},
	}
	for _, tt := range tests {
		if _, err := tokenize.NewFPE(p, tt.domain, tt.a, tt.opts...); err == nil || !strings.HasPrefix(err.Error(), "tokenize: ") {
			t.Errorf("%s: NewFPE err = %v, want an error", tt.name, err)
		}
	}
}

// BenchmarkFPE is FPE.Tokenize on a 16-digit value beside the bare FF1
// encryption it wraps: the difference is the provider look-up and the key
// cache.
func BenchmarkFPE(b *testing.B) {
	ctx := context.Background()
	f := newFPE(b, keys.NewMemory(), "card", tokenize.Digits)
	if _, _, err := f.Tokenize(ctx, "4111111111111111", nil); err != nil {
		b.Fatal(err)
	}
	b.Run("tokenize16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := f.Tokenize(ctx, "4111111111111111", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor-FF1", func(b *testing.B) {
		c, err := tokenize.NewFF1(make([]byte, 32), tokenize.Digits)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encrypt("4111111111111111", []byte{0}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
