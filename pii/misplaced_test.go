package pii_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// The sources of the stored values that TestRevealMisplacedEnvelopes moves
// into the fields of other actions: one field per action and mode.
type (
	misSource struct {
		E   string `pii:"encrypt"`
		D   string `pii:"deterministic"`
		H   string `pii:"pseudonym"`
		Src string `pii:"encrypt"`
		I   string `pii:"index=Src"`
		T   string `pii:"tokenize=card"`
		F   string `pii:"tokenize=cpr"`
		// EB and DB hold binary envelopes.
		EB []byte `pii:"encrypt"`
		DB []byte `pii:"deterministic"`
	}
	misSubjectSource struct {
		ID string `pii:"subject"`
		S  string `pii:"encrypt"`
		R  string `pii:"deterministic"`
	}
)

// The fields that receive them: every action that Reveal opens or checks,
// with and without migrate (which lets plaintext through, and must not let
// a tillid value of another mode through as if it were plaintext), and
// under a subject's key.
type (
	misEncrypt struct {
		V string `pii:"encrypt"`
	}
	misEncryptMigrate struct {
		V string `pii:"encrypt,migrate"`
	}
	misDeterministic struct {
		V string `pii:"deterministic"`
	}
	misDeterministicMigrate struct {
		V string `pii:"deterministic,migrate"`
	}
	misPseudonym struct {
		V string `pii:"pseudonym"`
	}
	misVault struct {
		V string `pii:"tokenize=card"`
	}
	misVaultMigrate struct {
		V string `pii:"tokenize=card,migrate"`
	}
	misFF1 struct {
		V string `pii:"tokenize=cpr"`
	}
	misFF1Migrate struct {
		V string `pii:"tokenize=cpr,migrate"`
	}
	misSubjectEncrypt struct {
		ID string `pii:"subject"`
		V  string `pii:"encrypt"`
	}
	misSubjectDeterministic struct {
		ID string `pii:"subject"`
		V  string `pii:"deterministic,migrate"`
	}
	misValue struct {
		V pii.Value[string] `pii:"deterministic,migrate"`
	}
	misBytes struct {
		V []byte `pii:"deterministic,migrate"`
	}
	misBytesEncrypt struct {
		V []byte `pii:"encrypt,migrate"`
	}
)

// misplacedEnv returns a Protector with every kind of key, and one stored
// value of every envelope mode, by mode letter.
func misplacedEnv(t *testing.T) (*pii.Protector, map[byte]string) {
	t.Helper()
	store := keys.NewMemory()
	sk, err := keys.NewSubjectKeys(store, keys.NewMemorySubjectKeyStore(), keys.NewMemoryLedger())
	require.NoError(t, err)
	card, err := tokenize.New(store, tokenize.NewMemoryStore(), "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
	require.NoError(t, err)
	cpr, err := tokenize.NewFPE(store, "cpr", tokenize.Digits)
	require.NoError(t, err)
	p, err := pii.New(store, pii.WithSubjectKeys(sk), pii.WithVault(card), pii.WithFPE(cpr))
	require.NoError(t, err)

	src := misSource{E: "ada@example.com", D: "ada@example.com", H: "ada@example.com", Src: "ada@example.com",
		T: "4111111111111111", F: "0101901234", EB: []byte("ada"), DB: []byte("ada")}
	require.NoError(t, p.Protect(ctx, &src))
	subj := misSubjectSource{ID: "s-1", S: "ada@example.com", R: "ada@example.com"}
	require.NoError(t, p.Protect(ctx, &subj))
	stored := map[byte]string{'e': src.E, 'd': src.D, 'h': src.H, 'i': src.I, 't': src.T, 'f': src.F, 's': subj.S, 'r': subj.R,
		'E': string(src.EB), 'D': string(src.DB)}
	for mode, s := range stored {
		if mode >= 'a' {
			require.Equal(t, "tl1"+string(mode)+":", s[:5], "the source of mode %c", mode)
		}
	}
	return p, stored
}

// TestRevealMisplacedEnvelopes moves a stored value of every envelope mode
// into the field of every other action: a tillid value of another mode is
// tampering or a misplaced column, never plaintext, so Reveal and Rewrap
// fail with ErrDecryption (not ErrNotProtected, and not by letting it
// through as legacy plaintext under migrate), Protect neither keeps it nor
// protects it as if it were plaintext, and the field stays as it was.
func TestRevealMisplacedEnvelopes(t *testing.T) {
	t.Parallel()
	p, stored := misplacedEnv(t)
	targets := []struct {
		name string
		new  func() any
		// own are the modes the field itself stores.
		own string
	}{
		{"encrypt", func() any { return &misEncrypt{} }, "e"},
		{"encrypt,migrate", func() any { return &misEncryptMigrate{} }, "e"},
		{"deterministic", func() any { return &misDeterministic{} }, "d"},
		{"deterministic,migrate", func() any { return &misDeterministicMigrate{} }, "d"},
		{"pseudonym", func() any { return &misPseudonym{} }, "h"},
		{"tokenize vault", func() any { return &misVault{} }, "t"},
		{"tokenize vault,migrate", func() any { return &misVaultMigrate{} }, "t"},
		{"tokenize ff1", func() any { return &misFF1{} }, "f"},
		{"tokenize ff1,migrate", func() any { return &misFF1Migrate{} }, "f"},
		{"encrypt under a subject", func() any { return &misSubjectEncrypt{ID: "s-1"} }, "s"},
		{"deterministic,migrate under a subject", func() any { return &misSubjectDeterministic{ID: "s-1"} }, "r"},
		{"pii.Value deterministic,migrate", func() any { return &misValue{} }, "d"},
		{"[]byte deterministic,migrate", func() any { return &misBytes{} }, "dD"},
		{"[]byte encrypt,migrate", func() any { return &misBytesEncrypt{} }, "eE"},
	}
	// Lower case: text envelopes; E and D: the binary envelopes of encrypt
	// and deterministic.
	modes := []byte("edhitfsrED")
	for _, tt := range targets {
		for _, mode := range modes {
			if slices.Contains([]byte(tt.own), mode) {
				continue
			}
			t.Run(fmt.Sprintf("%s holding tl1%c", tt.name, mode), func(t *testing.T) {
				v := tt.new()
				setV(t, v, stored[mode])
				before := reflect.ValueOf(v).Elem().Interface()
				err := p.Reveal(ctx, v)
				assert.ErrorIs(t, err, pii.ErrDecryption, "Reveal(%s holding tl1%c:) = %v, want ErrDecryption", tt.name, mode, err)
				assert.NotErrorIs(t, err, pii.ErrNotProtected)
				assert.Equal(t, before, reflect.ValueOf(v).Elem().Interface(), "a failed Reveal leaves the record as it was")
				_, rerr := p.Rewrap(ctx, v)
				assert.ErrorIs(t, rerr, pii.ErrDecryption, "Rewrap(%s holding tl1%c:) = %v, want ErrDecryption", tt.name, mode, rerr)
				assert.Equal(t, before, reflect.ValueOf(v).Elem().Interface(), "a failed Rewrap leaves the record as it was")
				perr := p.Protect(ctx, v)
				assert.ErrorIs(t, perr, pii.ErrDecryption, "Protect(%s holding tl1%c:) = %v, want ErrDecryption: kept as protected or protected again, it would be neither", tt.name, mode, perr)
				assert.Equal(t, before, reflect.ValueOf(v).Elem().Interface(), "a failed Protect leaves the record as it was")
			})
		}
	}
}

// TestRevealStoredMisplacedEnvelopes is TestRevealMisplacedEnvelopes for
// the column API (RevealStored, RewrapStored), which code without the Go
// struct uses.
func TestRevealStoredMisplacedEnvelopes(t *testing.T) {
	t.Parallel()
	p, stored := misplacedEnv(t)
	targets := []struct {
		name string
		v    any
		own  string
	}{
		{"encrypt,migrate", &misEncryptMigrate{}, "e"},
		{"deterministic,migrate", &misDeterministicMigrate{}, "d"},
		{"tokenize vault", &misVault{}, "t"},
		{"tokenize vault,migrate", &misVaultMigrate{}, "t"},
		{"tokenize ff1,migrate", &misFF1Migrate{}, "f"},
	}
	for _, tt := range targets {
		col, err := pii.ColumnFor(tt.v, "V")
		require.NoError(t, err)
		for _, mode := range []byte("edhitfsr") {
			if slices.Contains([]byte(tt.own), mode) {
				continue
			}
			t.Run(fmt.Sprintf("%s holding tl1%c", tt.name, mode), func(t *testing.T) {
				out, err := p.RevealStored(ctx, col, "", stored[mode])
				wantMisplaced(t, err, mode, "RevealStored(%s, tl1%c:) = %q, %v", tt.name, mode, out, err)
				assert.Empty(t, out)
				out, _, err = p.RewrapStored(ctx, col, "", stored[mode])
				wantMisplaced(t, err, mode, "RewrapStored(%s, tl1%c:) = %q, %v", tt.name, mode, out, err)
			})
		}
	}
}

// setV sets the V field of a mis* record to the stored value s.
func setV(t *testing.T, v any, s string) {
	t.Helper()
	f := reflect.ValueOf(v).Elem().FieldByName("V")
	switch x := f.Addr().Interface().(type) {
	case *string:
		*x = s
	case *[]byte:
		*x = []byte(s)
	case *pii.Value[string]:
		require.NoError(t, x.Scan(s))
	default:
		t.Fatalf("setV: %T", x)
	}
}

// wantMisplaced asserts how the Column tools refuse a stored value of
// another mode: ErrDecryption, except for a value sealed under a data
// subject's key (tl1s:, tl1r:), which is refused with an error that says
// so where the column could hold it (an operator's rewrap must not read
// it as tampering).
func wantMisplaced(t *testing.T, err error, mode byte, msg string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(msg, args...)
	if mode == 's' || mode == 'r' {
		require.Error(t, err, what)
		assert.True(t, errors.Is(err, pii.ErrDecryption) || strings.Contains(err.Error(), "sealed under its data subject's key"),
			"%s: want ErrDecryption or the subject-key refusal", what)
		assert.NotErrorIs(t, err, pii.ErrNotProtected, what)
		return
	}
	assert.ErrorIs(t, err, pii.ErrDecryption, what+"; want ErrDecryption")
}
