//go:build unix

package tokenize_test

import (
	"crypto/aes"
	"syscall"
	"testing"
	"time"

	"github.com/tillid/tillid/tokenize"
)

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start as cpu-ns/op.
// On a shared machine it moves less than sec/op, which counts the time the
// benchmark waited for a core; it includes the garbage collector's work.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkFF1 encrypts and decrypts a 16-digit value with an AES-256 key,
// the key size FPE derives, beside its floor in the same run: ten bare
// AES-256 block encryptions, one per FF1 round, through crypto/aes. Each
// reports wall time (sec/op) and CPU time (cpu-ns/op). Compare with
// benchstat over -count 8:
//
//	go test -run '^$' -bench 'BenchmarkFF1$' -count 8 ./tokenize/ | benchstat -col /op -
func BenchmarkFF1(b *testing.B) {
	key := make([]byte, 32)
	c, err := tokenize.NewFF1(key, tokenize.Digits)
	if err != nil {
		b.Fatal(err)
	}
	card, err := c.Encrypt("4111111111111111", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=encrypt16", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime(b)
		for b.Loop() {
			if _, err := c.Encrypt("4111111111111111", nil); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start)
	})
	b.Run("op=decrypt16", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime(b)
		for b.Loop() {
			if _, err := c.Decrypt(card, nil); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start)
	})
	b.Run("op=floor-10xAES256", func(b *testing.B) {
		block, err := aes.NewCipher(key)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, aes.BlockSize)
		b.ReportAllocs()
		start := cpuTime(b)
		for b.Loop() {
			for range 10 {
				block.Encrypt(buf, buf)
			}
		}
		reportCPU(b, start)
	})
}

// BenchmarkFF1Shapes covers the other costs of one call: a tweak (one more
// AES block per 16 bytes beyond the first 11), the 12-byte S of inputs
// over 19 digits, and the math/big path beyond 38 digits.
func BenchmarkFF1Shapes(b *testing.B) {
	c, err := tokenize.NewFF1(make([]byte, 32), tokenize.Digits)
	if err != nil {
		b.Fatal(err)
	}
	tests := []struct {
		name  string
		in    string
		tweak []byte
	}{
		{"16digits-tweak32", "4111111111111111", make([]byte, 32)},
		{"30digits", "411111111111111141111111111111", nil},
		{"64digits", "4111111111111111411111111111111141111111111111114111111111111111", nil},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encrypt(tt.in, tt.tweak); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
