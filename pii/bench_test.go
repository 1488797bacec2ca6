package pii_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
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
	for b.Loop() {
		r := benchValues
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
	for b.Loop() {
		r := stored
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

func BenchmarkProtectFloorTink(b *testing.B) {
	a := handAEAD(b)
	b.ReportAllocs()
	for b.Loop() {
		r := benchValues
		r.Name = handSeal(b, a, r.Name, handAD[0])
		r.Email = handSeal(b, a, r.Email, handAD[1])
		r.Phone = handSeal(b, a, r.Phone, handAD[2])
		r.Address = handSeal(b, a, r.Address, handAD[3])
		r.NID = handSeal(b, a, r.NID, handAD[4])
	}
}

func BenchmarkRevealFloorTink(b *testing.B) {
	a := handAEAD(b)
	s := benchValues
	s.Name = handSeal(b, a, s.Name, handAD[0])
	s.Email = handSeal(b, a, s.Email, handAD[1])
	s.Phone = handSeal(b, a, s.Phone, handAD[2])
	s.Address = handSeal(b, a, s.Address, handAD[3])
	s.NID = handSeal(b, a, s.NID, handAD[4])
	b.ReportAllocs()
	for b.Loop() {
		r := s
		r.Name = handOpen(b, a, r.Name, handAD[0])
		r.Email = handOpen(b, a, r.Email, handAD[1])
		r.Phone = handOpen(b, a, r.Phone, handAD[2])
		r.Address = handOpen(b, a, r.Address, handAD[3])
		r.NID = handOpen(b, a, r.NID, handAD[4])
	}
}

// BenchmarkBlindIndex computes the lookup term of an email through the
// index field's normaliser and PRF (one live key).
func BenchmarkBlindIndex(b *testing.B) {
	p, _ := newProtector(b)
	ix, err := p.BlindIndexer(Person{}, "EmailIdx")
	if err != nil {
		b.Fatal(err)
	}
	var buf [64]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ix.BlindIndex(ctx, buf[:0], "ada.lovelace@example.com"); err != nil {
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
