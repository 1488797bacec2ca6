//go:build unix

package bench_test

import (
	"encoding/json"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/tillid/tillid/pii"
)

// The paired benchmarks run tillid and go-mask in alternating rounds, so
// that both see the same load on a shared machine, and report the process
// CPU time per operation of each side and their ratio, tillid / go-mask,
// as pii's paired benchmarks do (pii/paired_bench_test.go; test files
// cannot be shared between modules). The unpaired benchmarks in
// bench_test.go give the allocations.

const pairedRound = 200

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func paired(b *testing.B, x, other func()) {
	rounds := func(f func()) time.Duration {
		t0 := cpuTime()
		for range pairedRound {
			f()
		}
		return cpuTime() - t0
	}
	var tx, to time.Duration
	odd := false
	for b.Loop() {
		if odd {
			to += rounds(other)
			tx += rounds(x)
		} else {
			tx += rounds(x)
			to += rounds(other)
		}
		odd = !odd
	}
	ops := float64(b.N * pairedRound)
	b.ReportMetric(float64(tx.Nanoseconds())/ops, "tillid-cpu-ns/op")
	b.ReportMetric(float64(to.Nanoseconds())/ops, "gomask-cpu-ns/op")
	b.ReportMetric(float64(tx)/float64(to), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPairedMaskedViewVsGoMask: the view's MarshalJSON, as a handler
// that writes its bytes uses it, beside go-mask's copy encoded by
// json.Marshal: the same bytes.
func BenchmarkPairedMaskedViewVsGoMask(b *testing.B) {
	m, r := goMasker(b), record()
	paired(b, func() {
		if _, err := pii.Masked(r).MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}, func() { goMaskJSON(b, m, r) })
}

// BenchmarkPairedMaskedViewEncodingJSONVsGoMask: the view through
// json.Marshal, which checks and compacts what MarshalJSON returns.
func BenchmarkPairedMaskedViewEncodingJSONVsGoMask(b *testing.B) {
	m, r := goMasker(b), record()
	paired(b, func() {
		if _, err := json.Marshal(pii.Masked(r)); err != nil {
			b.Fatal(err)
		}
	}, func() { goMaskJSON(b, m, r) })
}

// BenchmarkPairedMaskedViewVsGoMaskCopy: the view's MarshalJSON beside
// go-mask's masked copy alone, which is not yet encoded at all.
func BenchmarkPairedMaskedViewVsGoMaskCopy(b *testing.B) {
	m, r := goMasker(b), record()
	paired(b, func() {
		if _, err := pii.Masked(r).MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if _, err := m.Mask(r); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkPairedRedactedSlogVsGoMask(b *testing.B) {
	log, m, r := jsonLogger(io.Discard), goMasker(b), logRecord()
	paired(b, func() { log.Info("saved", "r", pii.Redacted(r)) }, func() {
		masked, err := m.Mask(r)
		if err != nil {
			b.Fatal(err)
		}
		log.Info("saved", "r", masked)
	})
}
