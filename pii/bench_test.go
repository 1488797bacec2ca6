package pii_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// BenchRecord has five string PII fields, the benchmark's unit of work.
type BenchRecord struct {
	Name    string `pii:"encrypt"`
	Email   string `pii:"encrypt"`
	Phone   string `pii:"encrypt"`
	Address string `pii:"encrypt"`
	NID     string `pii:"encrypt"`
}

var benchValues = BenchRecord{
	Name:    "Ada Lovelace",
	Email:   "ada.lovelace@example.com",
	Phone:   "+44 20 7946 0000",
	Address: "12 St James's Square, London SW1Y 4JH",
	NID:     "QQ123456C",
}

func BenchmarkProtect(b *testing.B) {
	p, _ := newProtector(b)
	b.ReportAllocs()
	var r BenchRecord // outside the loop, as in the floors: &r escapes
	for b.Loop() {
		r = benchValues
		if err := p.Protect(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReveal(b *testing.B) {
	p, _ := newProtector(b)
	stored := benchValues
	mustProtect(b, p, &stored)
	b.ReportAllocs()
	var r BenchRecord
	for b.Loop() {
		r = stored
		if err := p.Reveal(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// handAEAD is the floor: the same work written by hand with Tink — look
// the keyset up, encrypt each field with per-field associated data, and
// base64url-encode behind a prefix — with nothing else.
func handAEAD(b *testing.B) tink.AEAD {
	store := keys.NewMemory()
	ks, err := store.Keyset(ctx, "default", keys.KindAEAD)
	if err != nil {
		b.Fatal(err)
	}
	a, err := ks.AEAD()
	if err != nil {
		b.Fatal(err)
	}
	return a
}

var handAD = [5][]byte{
	[]byte("tillid/v1/field/BenchRecord/Name"),
	[]byte("tillid/v1/field/BenchRecord/Email"),
	[]byte("tillid/v1/field/BenchRecord/Phone"),
	[]byte("tillid/v1/field/BenchRecord/Address"),
	[]byte("tillid/v1/field/BenchRecord/NID"),
}

func handSeal(b *testing.B, a tink.AEAD, s string, ad []byte) string {
	ct, err := a.Encrypt([]byte(s), ad)
	if err != nil {
		b.Fatal(err)
	}
	return "tl1e:" + base64.RawURLEncoding.EncodeToString(ct)
}

func handOpen(b *testing.B, a tink.AEAD, s string, ad []byte) string {
	ct, err := base64.RawURLEncoding.DecodeString(s[5:])
	if err != nil {
		b.Fatal(err)
	}
	pt, err := a.Decrypt(ct, ad)
	if err != nil {
		b.Fatal(err)
	}
	return string(pt)
}

// handProtect and handReveal are the naive floor of one record.
func handProtect(b *testing.B, a tink.AEAD, r *BenchRecord) {
	r.Name = handSeal(b, a, r.Name, handAD[0])
	r.Email = handSeal(b, a, r.Email, handAD[1])
	r.Phone = handSeal(b, a, r.Phone, handAD[2])
	r.Address = handSeal(b, a, r.Address, handAD[3])
	r.NID = handSeal(b, a, r.NID, handAD[4])
}

func handReveal(b *testing.B, a tink.AEAD, r *BenchRecord) {
	r.Name = handOpen(b, a, r.Name, handAD[0])
	r.Email = handOpen(b, a, r.Email, handAD[1])
	r.Phone = handOpen(b, a, r.Phone, handAD[2])
	r.Address = handOpen(b, a, r.Address, handAD[3])
	r.NID = handOpen(b, a, r.NID, handAD[4])
}

func BenchmarkProtectFloorTink(b *testing.B) {
	a := handAEAD(b)
	b.ReportAllocs()
	for b.Loop() {
		r := benchValues
		handProtect(b, a, &r)
	}
}

func BenchmarkRevealFloorTink(b *testing.B) {
	a := handAEAD(b)
	s := benchValues
	handProtect(b, a, &s)
	b.ReportAllocs()
	for b.Loop() {
		r := s
		handReveal(b, a, &r)
	}
}

// BenchmarkBlindIndex computes the lookup term of an email through the
// index field's normaliser and PRF (one live key).
func BenchmarkBlindIndex(b *testing.B) { benchBlindIndex(b, "ada.lovelace@example.com") }

// BenchmarkBlindIndexMixedCase is BenchmarkBlindIndex for an input that
// normalize=email changes (upper case and white space).
func BenchmarkBlindIndexMixedCase(b *testing.B) { benchBlindIndex(b, " Ada.Lovelace@Example.COM ") }

func benchBlindIndex(b *testing.B, email string) {
	p, _ := newProtector(b)
	ix, err := p.BlindIndexer(Person{}, "EmailIdx")
	if err != nil {
		b.Fatal(err)
	}
	var buf [64]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ix.BlindIndex(ctx, buf[:0], email); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupTerms is the convenient form, allocating its result.
func BenchmarkLookupTerms(b *testing.B) {
	p, _ := newProtector(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.LookupTerms(ctx, Person{}, "EmailIdx", "ada.lovelace@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlindIndexFloorHMAC is the floor: a reused stdlib HMAC-SHA256
// over the same input bytes (labels, names and the normalised value),
// truncated to 16 bytes.
func BenchmarkBlindIndexFloorHMAC(b *testing.B) {
	key := make([]byte, 32)
	h := hmac.New(sha256.New, key)
	in := []byte("\x00\x00\x00\x15tillid/v1/blind-index\x00\x00\x00\x06Person\x00\x00\x00\x08EmailIdx\x00\x00\x00\x08email/v1\x00\x00\x00\x00\x00\x00\x00\x18ada.lovelace@example.com")
	var sum [sha256.Size]byte
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Write(in)
		_ = h.Sum(sum[:0])[:16]
	}
}

// lp is a 4-byte big-endian length prefix and s, as associated data holds.
func lp(s string) string { return string(binary.BigEndian.AppendUint32(nil, uint32(len(s)))) + s }

// tightAD is the associated data pii builds for a field of BenchRecord
// without aad= and without WithAssociatedData: the same bytes, so that the
// tight floor does the same cryptographic work.
func tightAD(typ, field string) []byte {
	return []byte(lp("tillid/v1/field") + lp(typ) + lp(field) + lp("") + lp(""))
}

var (
	benchB64   = base64.RawURLEncoding.Strict()
	tightADs   = [5][]byte{tightAD("BenchRecord", "Name"), tightAD("BenchRecord", "Email"), tightAD("BenchRecord", "Phone"), tightAD("BenchRecord", "Address"), tightAD("BenchRecord", "NID")}
	prefixAEAD = []byte("tl1e:")
)

// tightSeal is the tight floor of one field: Tink's ciphertext (one
// allocation) encoded behind the prefix into an exactly sized buffer (the
// second), viewed as a string without a copy.
func tightSeal(b *testing.B, a tink.AEAD, s string, ad []byte) string {
	ct, err := a.Encrypt(unsafe.Slice(unsafe.StringData(s), len(s)), ad)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 0, 5+benchB64.EncodedLen(len(ct)))
	out = benchB64.AppendEncode(append(out, prefixAEAD...), ct)
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// tightOpen is the tight floor of one Reveal: decode into a reused buffer,
// then Tink's plaintext (the one allocation), viewed as a string.
func tightOpen(b *testing.B, a tink.AEAD, buf *[]byte, s string, ad []byte) string {
	enc := s[5:]
	ct := (*buf)[:benchB64.DecodedLen(len(enc))]
	n, err := benchB64.Decode(ct, unsafe.Slice(unsafe.StringData(enc), len(enc)))
	if err != nil {
		b.Fatal(err)
	}
	pt, err := a.Decrypt(ct[:n], ad)
	if err != nil {
		b.Fatal(err)
	}
	return unsafe.String(unsafe.SliceData(pt), len(pt))
}

func tightProtect(b *testing.B, a tink.AEAD, r *BenchRecord) {
	r.Name = tightSeal(b, a, r.Name, tightADs[0])
	r.Email = tightSeal(b, a, r.Email, tightADs[1])
	r.Phone = tightSeal(b, a, r.Phone, tightADs[2])
	r.Address = tightSeal(b, a, r.Address, tightADs[3])
	r.NID = tightSeal(b, a, r.NID, tightADs[4])
}

func tightReveal(b *testing.B, a tink.AEAD, buf *[]byte, r *BenchRecord) {
	r.Name = tightOpen(b, a, buf, r.Name, tightADs[0])
	r.Email = tightOpen(b, a, buf, r.Email, tightADs[1])
	r.Phone = tightOpen(b, a, buf, r.Phone, tightADs[2])
	r.Address = tightOpen(b, a, buf, r.Address, tightADs[3])
	r.NID = tightOpen(b, a, buf, r.NID, tightADs[4])
}

// BenchmarkProtectFloorTight: 2 allocations per field.
func BenchmarkProtectFloorTight(b *testing.B) {
	a := handAEAD(b)
	b.ReportAllocs()
	var r BenchRecord
	for b.Loop() {
		r = benchValues
		tightProtect(b, a, &r)
	}
}

// BenchmarkRevealFloorTight: 1 allocation per field.
func BenchmarkRevealFloorTight(b *testing.B) {
	a := handAEAD(b)
	s := benchValues
	tightProtect(b, a, &s)
	buf := make([]byte, 256)
	b.ReportAllocs()
	var r BenchRecord
	for b.Loop() {
		r = s
		tightReveal(b, a, &buf, &r)
	}
}

// The 10,000-record slice: pii (serial and on two goroutines) beside the
// tight floor over the same records. BulkCustomer cannot alias, so pii
// keeps no visited-value map.
const bulkSize = 10_000

func BenchmarkProtectSlice(b *testing.B) { benchSlice(b, false) }

func BenchmarkRevealSlice(b *testing.B) { benchSlice(b, true) }

// benchSlice protects (or reveals) bulkSize records per op, serially and
// on two goroutines, and reports records per second.
func benchSlice(b *testing.B, reveal bool) {
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			p, err := pii.New(keys.NewMemory(), pii.WithParallelism(par))
			if err != nil {
				b.Fatal(err)
			}
			src := customers(bulkSize)
			op := p.Protect
			if reveal {
				if err := p.Protect(ctx, &src); err != nil {
					b.Fatal(err)
				}
				op = p.Reveal
			}
			cs := make([]BulkCustomer, bulkSize)
			b.ReportAllocs()
			for b.Loop() {
				copy(cs, src)
				if err := op(ctx, &cs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bulkSize*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkProtectSliceFloorTight protects the same slice by hand: the
// tight floor per field, with the same associated data (the record ID for
// Name), Tink AES-GCM for Name and Phone and AES-SIV for Email.
func BenchmarkProtectSliceFloorTight(b *testing.B) {
	floor := sliceFloor(b)
	src := customers(bulkSize)
	cs := make([]BulkCustomer, bulkSize)
	b.ReportAllocs()
	for b.Loop() {
		copy(cs, src)
		floor(cs)
	}
	b.ReportMetric(float64(bulkSize*b.N)/b.Elapsed().Seconds(), "records/s")
}

// sliceFloor returns the hand-written protection of a []BulkCustomer.
func sliceFloor(b *testing.B) func([]BulkCustomer) {
	store := keys.NewMemory()
	ks, err := store.Keyset(ctx, "default", keys.KindAEAD)
	if err != nil {
		b.Fatal(err)
	}
	a, err := ks.AEAD()
	if err != nil {
		b.Fatal(err)
	}
	dks, err := store.Keyset(ctx, "default", keys.KindDeterministicAEAD)
	if err != nil {
		b.Fatal(err)
	}
	d, err := dks.DeterministicAEAD()
	if err != nil {
		b.Fatal(err)
	}
	namePrefix := lp("tillid/v1/field") + lp("BulkCustomer") + lp("Name")
	emailAD := tightAD("BulkCustomer", "Email")
	phoneAD := tightAD("BulkCustomer", "Phone")
	adBuf := make([]byte, 0, 128)
	return func(cs []BulkCustomer) {
		for i := range cs {
			c := &cs[i]
			adBuf = append(adBuf[:0], namePrefix...)
			adBuf = binary.BigEndian.AppendUint32(adBuf, uint32(len(c.ID)))
			adBuf = append(append(adBuf, c.ID...), 0, 0, 0, 0)
			c.Name = tightSeal(b, a, c.Name, adBuf)
			ct, err := d.EncryptDeterministically(unsafe.Slice(unsafe.StringData(c.Email), len(c.Email)), emailAD)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 0, 5+benchB64.EncodedLen(len(ct)))
			out = benchB64.AppendEncode(append(out, "tl1d:"...), ct)
			c.Email = unsafe.String(unsafe.SliceData(out), len(out))
			c.Phone = tightSeal(b, a, c.Phone, phoneAD)
		}
	}
}
