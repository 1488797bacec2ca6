//go:build unix

package pii_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"syscall"
	"testing"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// The paired benchmarks run pii and its floor in alternating rounds of
// pairedRound operations each, so that both see the same load on a shared
// machine, and report the process CPU time (user + system, GC workers
// included; time spent waiting for a core excluded) per operation of each
// side and their ratio, pii / floor. The unpaired benchmarks in
// bench_test.go give the allocations of each side.

// pairedRound is the number of operations timed together: enough that the
// 1 µs resolution of getrusage does not matter.
const pairedRound = 200

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// paired runs rounds of x and of floor alternately, swapping which goes
// first every round, and reports pii-cpu-ns/op, floor-cpu-ns/op and their
// ratio. Each b.N is one round of each.
func paired(b *testing.B, x, floor func()) { pairedN(b, pairedRound, x, floor) }

// pairedN is paired with rounds of n operations.
func pairedN(b *testing.B, n int, x, floor func()) {
	rounds := func(f func()) time.Duration {
		t0 := cpuTime()
		for range n {
			f()
		}
		return cpuTime() - t0
	}
	var tx, tf time.Duration
	odd := false
	for b.Loop() {
		if odd {
			tf += rounds(floor)
			tx += rounds(x)
		} else {
			tx += rounds(x)
			tf += rounds(floor)
		}
		odd = !odd
	}
	ops := float64(b.N * n)
	b.ReportMetric(float64(tx.Nanoseconds())/ops, "pii-cpu-ns/op")
	b.ReportMetric(float64(tf.Nanoseconds())/ops, "floor-cpu-ns/op")
	b.ReportMetric(float64(tx)/float64(tf), "ratio")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkPairedRevealVsNaiveFloor(b *testing.B) {
	p, _ := newProtector(b)
	stored := benchValues
	mustProtect(b, p, &stored)
	a := handAEAD(b)
	s := benchValues
	handProtect(b, a, &s)
	var r, h BenchRecord
	paired(b, func() {
		r = stored
		if err := p.Reveal(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}, func() {
		h = s
		handReveal(b, a, &h)
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
		tightReveal(b, a, &buf, &h)
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
	pairedN(b, 1, func() {
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
// WithParallelism(2) beside the same on one goroutine. It reports CPU time
// like the others (the cost of splitting) and, in wall-ns/op and
// speedup, the wall-clock time of each side and serial / parallel: on two
// idle cores the goal is 1.8 or more.
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
	var wallPar, wallSerial time.Duration
	pairedN(b, 1, func() {
		copy(cs, src)
		t0 := time.Now()
		if err := par.Protect(ctx, &cs); err != nil {
			b.Fatal(err)
		}
		wallPar += time.Since(t0)
	}, func() {
		copy(cs, src)
		t0 := time.Now()
		if err := serial.Protect(ctx, &cs); err != nil {
			b.Fatal(err)
		}
		wallSerial += time.Since(t0)
	})
	b.ReportMetric(float64(wallPar.Nanoseconds())/float64(b.N), "parallel-wall-ns/op")
	b.ReportMetric(float64(wallSerial.Nanoseconds())/float64(b.N), "serial-wall-ns/op")
	b.ReportMetric(float64(wallSerial)/float64(wallPar), "speedup")
}
