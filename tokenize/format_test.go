package tokenize_test

import (
	"context"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/tokenize"
)

func luhnValid(s string) bool {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func TestFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format tokenize.Format
		values []string
		check  func(t *testing.T, value, token string)
	}{
		{"random-alphanumeric", tokenize.RandomAlphanumeric(), []string{"x", "0101901234", "æøå"}, func(t *testing.T, value, token string) {
			assert.Len(t, token, 22, "token has %d characters, want 22", len(token))
			for _, r := range token {
				assert.True(t, r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z', "token holds %q", r)
			}
		}},
		{"random-digits", tokenize.RandomDigits(), []string{"0101901234", "123456", "DK-ABCDEF"}, func(t *testing.T, value, token string) {
			assert.True(t, isDigits(token), "token is not %d digits", len([]rune(value)))
			assert.Len(t, token, len([]rune(value)), "token is not %d digits", len([]rune(value)))
		}},
		{"keep-last-4", tokenize.KeepLast(4), []string{"4111-1111-1111-1234", "AbCdEf-9876", "0101901234"}, func(t *testing.T, value, token string) {
			require.Len(t, token, len(value), "token does not keep length and the last 4")
			assert.Equal(t, value[len(value)-4:], token[len(token)-4:], "token does not keep length and the last 4")
			for i := range len(value) - 4 {
				v, k := value[i], token[i]
				same := (v >= '0' && v <= '9') == (k >= '0' && k <= '9') &&
					(v >= 'a' && v <= 'z') == (k >= 'a' && k <= 'z') &&
					(v >= 'A' && v <= 'Z') == (k >= 'A' && k <= 'Z')
				assert.True(t, same, "character %d changed class or separator", i+1)
				assert.False(t, strings.IndexByte("-/ ", v) >= 0 && v != k, "character %d changed class or separator", i+1)
			}
		}},
		{"card-0-0", tokenize.Card(0, 0), []string{"4111111111111111", "378282246310005", "4222222222222"}, func(t *testing.T, value, token string) {
			assert.Len(t, token, len(value), "token is not a %d-digit Luhn-valid number", len(value))
			assert.True(t, isDigits(token), "token is not a %d-digit Luhn-valid number", len(value))
			assert.True(t, luhnValid(token), "token is not a %d-digit Luhn-valid number", len(value))
		}},
		{"card-6-4", tokenize.Card(6, 4), []string{"4111111111111111", "5500000000000004", "4111111111111112", "6011000990139424123"}, func(t *testing.T, value, token string) {
			assert.Len(t, token, len(value), "token is not a %d-digit Luhn-valid number", len(value))
			assert.True(t, isDigits(token), "token is not a %d-digit Luhn-valid number", len(value))
			assert.True(t, luhnValid(token), "token is not a %d-digit Luhn-valid number", len(value))
			assert.Equal(t, value[:6], token[:6], "token does not keep the first 6 and last 4 digits")
			assert.Equal(t, value[len(value)-4:], token[len(token)-4:], "token does not keep the first 6 and last 4 digits")
		}},
		{"card-6-0", tokenize.Card(6, 0), []string{"4111111111111111"}, func(t *testing.T, value, token string) {
			assert.Equal(t, value[:6], token[:6], "token does not keep the BIN or fails Luhn")
			assert.True(t, luhnValid(token), "token does not keep the BIN or fails Luhn")
		}},
		{"email", tokenize.Email(false), []string{"alice@example.com", "a.b+c@sub.example.co.uk", "\"quoted@local\"@example.org"}, func(t *testing.T, value, token string) {
			addr, err := mail.ParseAddress(token)
			assert.NoError(t, err, "token is not a valid address")
			assert.Equal(t, token, addr.Address, "token is not a valid address")
			assert.True(t, strings.HasSuffix(token, "@token.invalid"), "token's domain is not token.invalid")
		}},
		{"email-keep-domain", tokenize.Email(true), []string{"alice@example.com", "bob@Sub.Example.ORG"}, func(t *testing.T, value, token string) {
			_, err := mail.ParseAddress(token)
			assert.NoError(t, err, "token is not a valid address")
			assert.Equal(t, value[strings.LastIndexByte(value, '@'):], token[strings.IndexByte(token, '@'):], "token does not keep the domain")
		}},
	}
	ctx := context.Background()
	p := keys.NewMemory()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.name, tt.format.String(), "String() = %q, want %q", tt.format.String(), tt.name)
			for _, mode := range []tokenize.Mode{tokenize.ModeRandom, tokenize.ModeConsistent} {
				tk := newTokenizer(t, p, tokenize.NewMemoryStore(), "fmt", mode, tokenize.WithFormat(tt.format))
				for _, v := range tt.values {
					for range 20 {
						tok, err := tk.Tokenize(ctx, v)
						require.NoError(t, err, "Tokenize")
						require.NotEqual(t, v, tok, "token equals the value")
						tt.check(t, v, tok)
						got, err := tk.Detokenize(ctx, tok)
						require.NoError(t, err, "Detokenize")
						require.Equal(t, v, got, "Detokenize")
					}
				}
			}
		})
	}
}

func TestFormatRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  tokenize.Format
		value   string
		wantErr string
	}{
		{"digits too short", tokenize.RandomDigits(), "12345", "at least 6 characters"},
		{"keep-last leaves too few", tokenize.KeepLast(4), "12-34-5678", "leaves 4 random characters"},
		{"keep-last shorter than kept", tokenize.KeepLast(4), "123", "at least 4 characters"},
		{"card too short", tokenize.Card(0, 0), "41111111111", "12 to 19 digits"},
		{"card too long", tokenize.Card(0, 0), "41111111111111111111", "12 to 19 digits"},
		{"card with spaces", tokenize.Card(6, 4), "4111 1111 1111 1111", "character 5 is not a digit"},
		{"card with a letter", tokenize.Card(6, 4), "4111111111111x11", "character 14 is not a digit"},
		{"card keeps too much", tokenize.Card(6, 4), "411111111111111", "leaves 5 random digits"},
		{"email without @", tokenize.Email(false), "alice.example.com", "local@domain"},
		{"email without local", tokenize.Email(false), "@example.com", "local@domain"},
		{"email without domain", tokenize.Email(true), "alice@", "local@domain"},
		{"email with space", tokenize.Email(true), "alice smith@example.com", "white space"},
		{"email bad domain", tokenize.Email(true), "alice@exa_mple.com", "character 4 of the domain"},
		{"email dotted domain", tokenize.Email(true), "alice@example..com", "not a valid host name"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		store := &countingStore{Store: tokenize.NewMemoryStore()}
		tk := newTokenizer(t, keys.NewMemory(), store, "fmt", tokenize.ModeConsistent, tokenize.WithFormat(tt.format))
		_, err := tk.Tokenize(ctx, tt.value)
		require.ErrorIs(t, err, tokenize.ErrInvalidValue, "%s: Tokenize err = %v, want ErrInvalidValue containing %q", tt.name, err, tt.wantErr)
		assert.ErrorContains(t, err, tt.wantErr, "%s: Tokenize err = %v, want ErrInvalidValue containing %q", tt.name, err, tt.wantErr)
		assert.False(t, err != nil && strings.Contains(err.Error(), tt.value), "%s: error %q carries the value", tt.name, err)
		assert.Zero(t, store.puts.Load(), "%s: a rejected value reached the store", tt.name)
	}
}

func TestFormatPanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"KeepLast(-1)": func() { tokenize.KeepLast(-1) },
		"Card(9, 4)":   func() { tokenize.Card(9, 4) },
		"Card(6, 5)":   func() { tokenize.Card(6, 5) },
		"Card(-1, 0)":  func() { tokenize.Card(-1, 0) },
	} {
		func() {
			defer func() {
				assert.NotNil(t, recover(), "%s did not panic", name)
			}()
			f()
		}()
	}
}
