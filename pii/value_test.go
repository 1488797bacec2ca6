package pii_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

type Measures struct {
	ID     int64                    `pii:"-"`
	Born   pii.Value[time.Time]     `pii:"encrypt,class=health,aad=ID"`
	Weight pii.Value[float64]       `pii:"encrypt,class=health,aad=ID"`
	Steps  pii.Value[int64]         `pii:"deterministic,aad=ID"`
	Smoker pii.Value[bool]          `pii:"encrypt,aad=ID"`
	Small  pii.Value[uint8]         `pii:"encrypt"`
	IP     pii.Value[netip.Addr]    `pii:"encrypt"`
	Name   pii.Value[string]        `pii:"encrypt"`
	Blob   pii.Value[[]byte]        `pii:"encrypt"`
	Limit  pii.Value[float32]       `pii:"encrypt"`
	Maybe  pii.Value[time.Duration] `pii:"encrypt"`
}

func sampleMeasures() Measures {
	return Measures{
		ID:     7,
		Born:   pii.NewValue(time.Date(1980, 5, 6, 7, 8, 9, 10, time.UTC)),
		Weight: pii.NewValue(72.125),
		Steps:  pii.NewValue(int64(math.MinInt64)),
		Smoker: pii.NewValue(false),
		Small:  pii.NewValue(uint8(255)),
		IP:     pii.NewValue(netip.MustParseAddr("192.0.2.7")),
		Name:   pii.NewValue("Grace"),
		Blob:   pii.NewValue([]byte{0, 1, 2}),
		Limit:  pii.NewValue(float32(0.1)),
	}
}

func checkMeasures(t *testing.T, m Measures) {
	t.Helper()
	want := sampleMeasures()
	got := fmt.Sprint(get(m.Born), get(m.Weight), get(m.Steps), get(m.Smoker), get(m.Small), get(m.IP), get(m.Name), get(m.Blob), get(m.Limit), m.Maybe.IsNull())
	exp := fmt.Sprint(get(want.Born), get(want.Weight), get(want.Steps), get(want.Smoker), get(want.Small), get(want.IP), get(want.Name), get(want.Blob), get(want.Limit), true)
	assert.False(t, got != exp, "revealed values:\n got %s\nwant %s", got, exp)
}

func get[T any](v pii.Value[T]) string {
	x, ok := v.Get()
	return fmt.Sprintf("%v/%v", x, ok)
}

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	m := sampleMeasures()
	mustProtect(t, p, &m)
	if _, ok := m.Weight.Get(); ok || !m.Weight.IsProtected() {
		t.Fatal("Get on a protected Value returned a plaintext")
	}
	mustReveal(t, p, &m)
	checkMeasures(t, m)
}

// TestValueDatabaseRoundTrip passes every Value through database/sql's
// two interfaces, driver.Valuer on the way in and sql.Scanner on the way
// out, as a driver does, without a driver (the core module needs none).
func TestValueDatabaseRoundTrip(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	m := sampleMeasures()
	columns := func(m *Measures) []any {
		return []any{&m.Born, &m.Weight, &m.Steps, &m.Smoker, &m.Small, &m.IP, &m.Name, &m.Blob, &m.Limit, &m.Maybe}
	}
	// Plaintext never reaches the database.
	for _, c := range columns(&m)[:9] {
		_, err := c.(driver.Valuer).Value()
		require.ErrorIs(t, err, pii.ErrValuePlaintext, "Value() of a plaintext %T", c)
	}
	mustProtect(t, p, &m)
	var back Measures
	back.ID = m.ID
	var stored strings.Builder
	for i, c := range columns(&m) {
		dv, err := c.(driver.Valuer).Value()
		require.NoError(t, err)
		if s, ok := dv.(string); ok {
			stored.WriteString(s)
		}
		require.NoError(t, columns(&back)[i].(sql.Scanner).Scan(dv))
	}
	assert.NotContains(t, stored.String(), "Grace")
	assert.NotContains(t, stored.String(), "72.125")
	assert.True(t, back.Maybe.IsNull(), "a null Value must scan back as null")
	mustReveal(t, p, &back)
	checkMeasures(t, back)
}

func TestValueJSON(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	m := sampleMeasures()
	require.ErrorIs(t, errOf2(json.Marshal(m)), pii.ErrValuePlaintext, "json.Marshal(plaintext) error")
	mustProtect(t, p, &m)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.False(t, strings.Contains(string(b), "Grace") || !strings.Contains(string(b), `"Maybe":null`), "JSON of a protected struct = %s", b)
	var back Measures
	require.NoError(t, json.Unmarshal(b, &back))
	mustReveal(t, p, &back)
	checkMeasures(t, back)

	// Plaintext JSON input (an API request) is accepted and can be protected.
	var in struct {
		W pii.Value[float64] `pii:"encrypt"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"W": 1.5}`), &in))
	if w, ok := in.W.Get(); !ok || w != 1.5 {
		t.Errorf("plaintext JSON gave %v, %v", w, ok)
	}
	if err := json.Unmarshal([]byte(`{"W": "not a number"}`), &in); err == nil || strings.Contains(err.Error(), "not a number") {
		t.Errorf("bad JSON input error = %v: want an error without the value", err)
	}
}

func TestValueNeverPrints(t *testing.T) {
	t.Parallel()
	v := pii.NewValue("top secret value")
	var b strings.Builder
	fmt.Fprintf(&b, "%v %+v %#v %s %q %x", v, v, v, v, v, v)
	slog.New(slog.NewTextHandler(&b, nil)).Info("m", "v", v)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "v", v)
	assert.False(t, strings.Contains(b.String(), "secret") || strings.Contains(b.String(), "746f7020"), "a Value printed its plaintext: %s", b.String())
}

func TestValueBadCiphertextType(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	// A ciphertext of one struct's Value scanned into another's fails through
	// the associated data (the declaring type's name) instead of revealing
	// garbage.
	type A struct {
		V pii.Value[string] `pii:"encrypt"`
	}
	type B struct {
		V pii.Value[int64] `pii:"encrypt"`
	}
	a := A{V: pii.NewValue("abc")}
	mustProtect(t, p, &a)
	var b B
	s, _ := a.V.Value()
	require.NoError(t, b.V.Scan(s))
	assert.ErrorIs(t, p.Reveal(ctx, &b), pii.ErrDecryption, "Reveal of a foreign Value")
	assert.Error(t, b.V.Scan(42), "Scan(int) succeeded")
}

// Marshal methods on the pointer type (as math/big's) are found too.
func TestValuePointerReceiverMarshaller(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	type acct struct {
		Balance pii.Value[big.Int] `pii:"encrypt"`
	}
	var n big.Int
	n.SetString("123456789012345678901234567890", 10)
	a := acct{Balance: pii.NewValue(n)}
	mustProtect(t, p, &a)
	mustReveal(t, p, &a)
	got, ok := a.Balance.Get()
	assert.False(t, !ok || got.String() != "123456789012345678901234567890", "big.Int round trip = %v, %v", got.String(), ok)
}
