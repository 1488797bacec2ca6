package keys

import (
	"fmt"
	"time"
)

// StoreOption is a rare setting of a store, passed to [NewMemory],
// [OpenFile], [OpenSQLite] or [OpenPostgres]. Its method is unexported so
// that only this package makes options.
type StoreOption interface {
	applyStore(*storeConfig) error
}

type storeOptionFunc func(*storeConfig) error

func (f storeOptionFunc) applyStore(c *storeConfig) error { return f(c) }

// storeConfig collects the options of every store; each constructor says
// which it accepts.
type storeConfig struct {
	auditor Auditor
	ttl     time.Duration
	ttlSet  bool
	nowSet  bool
	table   string
	now     func() time.Time
	// createMissing is set by WithCreateMissing.
	createMissing bool
}

// DefaultCacheTTL is how long a SQL store serves a keyset from memory
// before it reads it again and unwraps it again under the KEK.
const DefaultCacheTTL = 5 * time.Minute

// defaultTable is the table of a SQL store unless WithTable says otherwise.
const defaultTable = "tillid_keysets"

func newStoreConfig(opts []StoreOption) (storeConfig, error) {
	c := storeConfig{ttl: DefaultCacheTTL, table: defaultTable, now: time.Now}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyStore(&c); err != nil {
			return storeConfig{}, err
		}
	}
	return c, nil
}

// WithAuditor sends an [Event] to a for every keyset created, key rotated,
// enabled, disabled or destroyed, and every failed KEK call. Without it no
// events are sent.
func WithAuditor(a Auditor) StoreOption {
	return storeOptionFunc(func(c *storeConfig) error {
		c.auditor = a
		return nil
	})
}

// WithCacheTTL sets how long a SQL store serves a keyset from memory, from
// the moment it was read and unwrapped: [DefaultCacheTTL] unless set. When
// it has passed, the next use reads the keyset again, so that a rotation
// made by another instance is seen within ttl, and unwraps it again under
// the KEK, so that a KEK revoked in the KMS stops the instance within ttl.
// That costs one KEK (KMS) call per keyset per ttl. While the KMS is down,
// cached keysets keep working until their ttl ends. ttl must be positive.
// File and memory stores refuse it: a memory store has nothing to reload,
// and a file store looks at its file every 2 seconds (see [OpenFile]).
func WithCacheTTL(ttl time.Duration) StoreOption {
	return storeOptionFunc(func(c *storeConfig) error {
		if ttl <= 0 {
			return fmt.Errorf("keys: cache TTL %v is not positive", ttl)
		}
		c.ttl, c.ttlSet = ttl, true
		return nil
	})
}

// WithClock makes a SQL store read the time from now instead of time.Now:
// for its cache TTL, the refresh rate limit, key creation and destruction
// times and audit events. Tests use it to move past a TTL without
// sleeping. now must be safe for concurrent use. File and memory stores
// refuse it.
func WithClock(now func() time.Time) StoreOption {
	return storeOptionFunc(func(c *storeConfig) error {
		if now == nil {
			return fmt.Errorf("keys: WithClock(nil)")
		}
		c.now, c.nowSet = now, true
		return nil
	})
}

// WithTable names the table of a SQL store: "tillid_keysets" unless set.
// The name must be 1 to 63 characters of a-z, 0-9 and '_', starting with a
// letter. File and memory stores refuse it.
func WithTable(name string) StoreOption {
	return storeOptionFunc(func(c *storeConfig) error {
		if !validTableName(name) {
			return fmt.Errorf("keys: table name %q: use 1 to 63 characters of a-z, 0-9 and '_', starting with a letter", name)
		}
		c.table = name
		return nil
	})
}

func validTableName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
