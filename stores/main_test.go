package stores_test

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
)

var ctx = context.Background()

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// newKEK returns a fresh random master key for keys.NewLocalKEK.
func newKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, keys.MasterKeySize)
	rand.Read(k)
	return k
}

type record struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt,aad=ID"`
	Phone string `pii:"deterministic"`
}

// recorder is an Auditor that keeps the events it is sent.
type recorder struct {
	mu     sync.Mutex
	events []keys.Event
}

func (r *recorder) Audit(_ context.Context, e keys.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type.String())
	}
	return out
}

// clock is a settable time for keys.WithClock: tests move it past a cache
// TTL instead of sleeping.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
