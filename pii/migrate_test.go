package pii_test

import (
	"database/sql"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type legacyName string

type legacyRecord struct {
	S     string                   `pii:"encrypt,migrate"`
	Named legacyName               `pii:"deterministic,migrate"`
	B     []byte                   `pii:"encrypt,migrate"`
	P     *string                  `pii:"encrypt,migrate"`
	N     sql.NullString           `pii:"encrypt,migrate"`
	VS    pii.Value[string]        `pii:"encrypt,migrate"`
	VI    pii.Value[int64]         `pii:"deterministic,migrate"`
	VU    pii.Value[uint16]        `pii:"encrypt,migrate"`
	VF    pii.Value[float64]       `pii:"encrypt,migrate"`
	VB    pii.Value[bool]          `pii:"encrypt,migrate"`
	VT    pii.Value[time.Time]     `pii:"encrypt,migrate"`
	VD    pii.Value[time.Duration] `pii:"encrypt,migrate"`
	VX    pii.Value[[]byte]        `pii:"encrypt,migrate"`
	VIP   pii.Value[netip.Addr]    `pii:"encrypt,migrate"`
	VBig  pii.Value[big.Int]       `pii:"encrypt,migrate"`
}

// TestMigrateReadsLegacyPlaintextInEveryShape reads a row written before
// the fields were protected: the columns hold plaintext, arrive through
// Scan, and every field shape must reveal them under migrate.
func TestMigrateReadsLegacyPlaintextInEveryShape(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	whenText, err := when.MarshalBinary()
	require.NoError(t, err)
	ipText, err := netip.MustParseAddr("192.0.2.1").MarshalBinary()
	require.NoError(t, err)
	columns := map[string]any{ // what the legacy columns hold, as a driver hands them over
		"VS": "Ada", "VI": "-42", "VU": []byte("65535"), "VF": "72.5", "VB": "true",
		"VT": whenText, "VD": "90000000000", "VX": []byte{0, 1, 2}, "VIP": ipText, "VBig": "12345678901234567890",
	}
	var rec legacyRecord
	p1 := "pointer"
	rec.S, rec.Named, rec.B, rec.P, rec.N = "plain", "named", []byte("bytes"), &p1, sql.NullString{String: "null-string", Valid: true}
	scans := map[string]sql.Scanner{
		"VS": &rec.VS, "VI": &rec.VI, "VU": &rec.VU, "VF": &rec.VF, "VB": &rec.VB,
		"VT": &rec.VT, "VD": &rec.VD, "VX": &rec.VX, "VIP": &rec.VIP, "VBig": &rec.VBig,
	}
	for name, s := range scans {
		require.NoError(t, s.Scan(columns[name]), name)
	}
	require.NoError(t, p.Reveal(ctx, &rec))

	assert.Equal(t, "plain", rec.S)
	assert.Equal(t, legacyName("named"), rec.Named)
	assert.Equal(t, []byte("bytes"), rec.B)
	assert.Equal(t, "pointer", *rec.P)
	assert.Equal(t, sql.NullString{String: "null-string", Valid: true}, rec.N)
	assertGet(t, "VS", rec.VS, "Ada")
	assertGet(t, "VI", rec.VI, int64(-42))
	assertGet(t, "VU", rec.VU, uint16(65535))
	assertGet(t, "VF", rec.VF, 72.5)
	assertGet(t, "VB", rec.VB, true)
	gotT, ok := rec.VT.Get()
	assert.True(t, ok && gotT.Equal(when), "VT = %v, %v; want %v", gotT, ok, when)
	assertGet(t, "VD", rec.VD, 90*time.Second)
	assertGet(t, "VX", rec.VX, []byte{0, 1, 2})
	assertGet(t, "VIP", rec.VIP, netip.MustParseAddr("192.0.2.1"))
	gotBig, ok := rec.VBig.Get()
	assert.True(t, ok && gotBig.String() == "12345678901234567890", "VBig = %v, %v", &gotBig, ok)

	reads := p.Stats().LegacyPlaintextReads
	for _, f := range []string{"S", "Named", "B", "P", "N", "VS", "VI", "VU", "VF", "VB", "VT", "VD", "VX", "VIP", "VBig"} {
		assert.Equal(t, uint64(1), reads["legacyRecord."+f], "legacy reads of %s", f)
	}

	// Rewrap protects the legacy values in place; they then reveal as before.
	var again legacyRecord
	again.S = "plain"
	for name, s := range map[string]sql.Scanner{"VI": &again.VI, "VT": &again.VT} {
		require.NoError(t, s.Scan(columns[name]), name)
	}
	n, err := p.Rewrap(ctx, &again)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "S, the empty Named (an empty string is protected too), VI and VT")
	assert.True(t, again.VI.IsProtected())
	require.NoError(t, p.Reveal(ctx, &again))
	assertGet(t, "VI after Rewrap", again.VI, int64(-42))
	assert.Equal(t, "plain", again.S)
}

func assertGet[T any](t *testing.T, name string, v pii.Value[T], want T) {
	t.Helper()
	got, ok := v.Get()
	assert.True(t, ok, "%s.Get() reports no plaintext", name)
	assert.Equal(t, want, got, name)
}

// TestMigrateRefusesUndecodableLegacy: legacy plaintext that is not a T
// is an error, not an empty Value.
func TestMigrateRefusesUndecodableLegacy(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	var rec legacyRecord
	require.NoError(t, rec.VI.Scan("not a number"))
	err := p.Reveal(ctx, &rec)
	require.ErrorIs(t, err, pii.ErrInvalidValue)
	assert.NotContains(t, err.Error(), "not a number", "errors never quote a value")
}

// TestLegacyWithoutMigrate: without migrate, scanned plaintext stays an
// error in every shape.
func TestLegacyWithoutMigrate(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	type strict struct {
		V pii.Value[int64] `pii:"encrypt"`
	}
	var s strict
	require.NoError(t, s.V.Scan("42"))
	assert.ErrorIs(t, p.Reveal(ctx, &s), pii.ErrNotProtected)
}
