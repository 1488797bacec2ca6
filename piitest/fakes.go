package piitest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillid/tillid/keys"
)

// Clock is a settable time for the clock options of the stores
// (keys.WithClock, tokenize.WithClock): tests move it past a TTL with
// [Clock.Advance] instead of sleeping. The zero Clock reads
// 2026-01-01T00:00:00Z. It is safe for concurrent use.
type Clock struct {
	offset atomic.Int64 // nanoseconds after the start time
}

// clockStart is the time a zero Clock reads.
var clockStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Now returns the clock's time. Pass the method value (c.Now) to a clock
// option.
func (c *Clock) Now() time.Time { return clockStart.Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d (backward for a negative d).
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// AuditRecorder is a keys.Auditor that keeps the events it is sent, for
// tests of audit trails. The zero AuditRecorder is ready to use and is safe
// for concurrent use.
type AuditRecorder struct {
	mu     sync.Mutex
	events []keys.Event
}

// Audit records e.
func (r *AuditRecorder) Audit(_ context.Context, e keys.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns a copy of the events recorded so far, oldest first.
func (r *AuditRecorder) Events() []keys.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]keys.Event(nil), r.events...)
}

// Types returns the type names of the events recorded so far, oldest
// first, such as "key.rotated".
func (r *AuditRecorder) Types() []string {
	var out []string
	for _, e := range r.Events() {
		out = append(out, e.Type.String())
	}
	return out
}

var _ keys.Auditor = (*AuditRecorder)(nil)
