package pii_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// The paired benchmarks run pii and its floor alternately in one loop, so
// that both see the same load on a shared machine, and report each one's
// time per op and their ratio (pii / floor). The unpaired benchmarks in
// bench_test.go give the allocations of each side.

// paired runs x and floor alternately, swapping their order every
// iteration, and reports x-ns/op, floor-ns/op and x/floor.
func paired(b *testing.B, x, floor func()) {
	var tx, tf time.Duration
	odd := false
	for b.Loop() {
		if odd {
			t0 := time.Now()
			floor()
			t1 := time.Now()
			x()
			tf, tx = tf+t1.Sub(t0), tx+time.Since(t1)
		} else {
			t0 := time.Now()
			x()
			t1 := time.Now()
			floor()
			tx, tf = tx+t1.Sub(t0), tf+time.Since(t1)
		}
		odd = !odd
	}
	b.ReportMetric(float64(tx.Nanoseconds())/float64(b.N), "pii-ns/op")
	b.ReportMetric(float64(tf.Nanoseconds())/float64(b.N), "floor-ns/op")
	b.ReportMetric(float64(tx)/float64(tf), "ratio")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkPairedRevealVsNaiveFloor(b *testing.B) {
	p, _ := newProtector(b)
	stored := benchValues
	mustProtect(b, p, &stored)
	a := handAEAD(b)
	s := benchValues
	s.Name = handSeal(b, a, s.Name, handAD[0])
	s.Email = handSeal(b, a, s.Email, handAD[1])
	s.Phone = handSeal(b, a, s.Phone, handAD[2])
	s.Address = handSeal(b, a, s.Address, handAD[3])
	s.NID = handSeal(b, a, s.NID, handAD[4])
	var r, h BenchRecord
	paired(b, func() {
		r = stored
		if err := p.Reveal(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}, func() {
		h = s
		h.Name = handOpen(b, a, h.Name, handAD[0])
		h.Email = handOpen(b, a, h.Email, handAD[1])
		h.Phone = handOpen(b, a, h.Phone, handAD[2])
		h.Address = handOpen(b, a, h.Address, handAD[3])
		h.NID = handOpen(b, a, h.NID, handAD[4])
	})
}

func BenchmarkPairedProtectVsTightFloor(b *testing.B) {
	p, _ := newProtector(b)
	a := handAEAD(b)
	var r, h BenchRecord
	paired(b, func() {
		r = benchValues
		if err := p.Protect(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}, func() {
		h = benchValues
		tightProtect(b, a, &h)
	})
}

func BenchmarkPairedRevealVsTightFloor(b *testing.B) {
	p, _ := newProtector(b)
	stored := benchValues
	mustProtect(b, p, &stored)
	a := handAEAD(b)
	s := benchValues
	tightProtect(b, a, &s)
	buf := make([]byte, 256)
	var r, h BenchRecord
	paired(b, func() {
		r = stored
		if err := p.Reveal(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}, func() {
		h = s
		h.Name = tightOpen(b, a, &buf, h.Name, tightADs[0])
		h.Email = tightOpen(b, a, &buf, h.Email, tightADs[1])
		h.Phone = tightOpen(b, a, &buf, h.Phone, tightADs[2])
		h.Address = tightOpen(b, a, &buf, h.Address, tightADs[3])
		h.NID = tightOpen(b, a, &buf, h.NID, tightADs[4])
	})
}

// BenchmarkPairedBlindIndexVsHMAC: a BlindIndexer over mixed-case input
// (normalize=email changes it) beside a reused HMAC-SHA256 over the
// normalised PRF input, truncated to 16 bytes.
func BenchmarkPairedBlindIndexVsHMAC(b *testing.B) {
	p, _ := newProtector(b)
	ix, err := p.BlindIndexer(Person{}, "EmailIdx")
	if err != nil {
		b.Fatal(err)
	}
	h := hmac.New(sha256.New, make([]byte, 32))
	in := []byte("\x00\x00\x00\x15tillid/v1/blind-index\x00\x00\x00\x06Person\x00\x00\x00\x08EmailIdx\x00\x00\x00\x08email/v1\x00\x00\x00\x00\x00\x00\x00\x18ada.lovelace@example.com")
	var buf [64]byte
	var sum [sha256.Size]byte
	paired(b, func() {
		if _, err := ix.BlindIndex(ctx, buf[:0], " Ada.Lovelace@Example.COM "); err != nil {
			b.Fatal(err)
		}
	}, func() {
		h.Reset()
		h.Write(in)
		_ = h.Sum(sum[:0])[:16]
	})
}

// BenchmarkPairedSliceVsTightFloor protects 10,000 records per op, on one
// goroutine, beside the tight floor over the same records.
func BenchmarkPairedSliceVsTightFloor(b *testing.B) {
	p, err := pii.New(keys.NewMemory())
	if err != nil {
		b.Fatal(err)
	}
	floor := sliceFloor(b)
	src := customers(bulkSize)
	cs := make([]BulkCustomer, bulkSize)
	hs := make([]BulkCustomer, bulkSize)
	paired(b, func() {
		copy(cs, src)
		if err := p.Protect(ctx, &cs); err != nil {
			b.Fatal(err)
		}
	}, func() {
		copy(hs, src)
		floor(hs)
	})
}

// BenchmarkPairedSliceParallel2VsSerial protects 10,000 records per op with
// WithParallelism(2) beside the same on one goroutine; its ratio is the
// time ratio (the inverse of the speed-up).
func BenchmarkPairedSliceParallel2VsSerial(b *testing.B) {
	store := keys.NewMemory()
	par, err := pii.New(store, pii.WithParallelism(2))
	if err != nil {
		b.Fatal(err)
	}
	serial, err := pii.New(store)
	if err != nil {
		b.Fatal(err)
	}
	src := customers(bulkSize)
	cs := make([]BulkCustomer, bulkSize)
	paired(b, func() {
		copy(cs, src)
		if err := par.Protect(ctx, &cs); err != nil {
			b.Fatal(err)
		}
	}, func() {
		copy(cs, src)
		if err := serial.Protect(ctx, &cs); err != nil {
			b.Fatal(err)
		}
	})
}
