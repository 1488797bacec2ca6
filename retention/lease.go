package retention

import (
	"errors"
	"time"
)

// Leases and the run's start are times of the world, not of the rules:
// a sweep measured against a pinned clock (WithClock, the CLI's -now) must
// still see its dead workers' leases run out. They are read from the lease
// clock, time.Now unless WithLeaseClock sets another.

// WithLeaseClock sets the clock of leases (time.Now by default): when a
// claimed batch runs out ([WithLease]) and another worker may take it
// over, and when a run started. It is apart from [WithClock], which the
// rules are measured against and may stand still (tillid retention sweep
// -now); tests drive both. Workers sharing a sweep should have clocks
// that agree to well within the lease.
func WithLeaseClock(now func() time.Time) Option {
	return optionFunc(func(s *Sweeper) error {
		if now == nil {
			return errors.New("retention: WithLeaseClock(nil)")
		}
		s.leaseClock = now
		return nil
	})
}

// leaseNow reads the lease clock.
func (s *Sweeper) leaseNow() time.Time {
	if s.leaseClock == nil {
		return time.Now()
	}
	return s.leaseClock()
}
