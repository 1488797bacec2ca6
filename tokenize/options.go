package tokenize

import (
	"fmt"
	"time"
)

// An Option changes a rare setting of [New] or [NewFPE]. Options come from
// the With… functions of this package; the interface is sealed. Passing an
// option to a constructor it does not apply to is an error.
type Option interface {
	apply(s *settings) error
}

// settings are the options given to a constructor.
type settings struct {
	keyName      string
	format       Format
	ttl          time.Duration
	now          func() time.Time
	visibleLast  int
	forTokenizer bool // set while applying the options of New
	forFPE       bool // set while applying the options of NewFPE
}

type optionFunc func(s *settings) error

func (f optionFunc) apply(s *settings) error { return f(s) }

// WithClock makes a [Tokenizer] from [New] read the time from now instead of
// time.Now: for token expiry ([WithTTL], [ExpiresIn]) and for what
// [Tokenizer.Purge] removes. Tests use it to move past a TTL without
// sleeping. now must be safe for concurrent use.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(s *settings) error {
		if !s.forTokenizer {
			return fmt.Errorf("tokenize: WithClock is an option of New only")
		}
		if now == nil {
			return fmt.Errorf("tokenize: WithClock(nil)")
		}
		s.now = now
		return nil
	})
}

// WithKeyName makes [New] or [NewFPE] use the key name name instead of the
// default "tokenize-<domain>". [New] asks its provider for an AEAD and a PRF
// keyset of that name; [NewFPE] for a PRF keyset. Several domains may share
// one key name: keys derived for a domain are bound to it.
func WithKeyName(name string) Option {
	return optionFunc(func(s *settings) error {
		if name == "" {
			return fmt.Errorf("tokenize: WithKeyName with an empty name")
		}
		s.keyName = name
		return nil
	})
}

// WithFormat makes [New] issue tokens of format f instead of
// [RandomAlphanumeric].
func WithFormat(f Format) Option {
	return optionFunc(func(s *settings) error {
		if !s.forTokenizer {
			return fmt.Errorf("tokenize: WithFormat applies to New only")
		}
		if f == nil {
			return fmt.Errorf("tokenize: WithFormat with a nil Format")
		}
		s.format = f
		return nil
	})
}

// WithTTL makes the tokens of [New]'s domain expire d after they are
// issued, unless [ExpiresIn] sets another lifetime for a token. Expired
// tokens no longer detokenize and [Tokenizer.Purge] deletes them. d must be
// positive; without WithTTL tokens never expire.
func WithTTL(d time.Duration) Option {
	return optionFunc(func(s *settings) error {
		if !s.forTokenizer {
			return fmt.Errorf("tokenize: WithTTL applies to New only")
		}
		if d <= 0 {
			return fmt.Errorf("tokenize: WithTTL(%v): the TTL must be positive", d)
		}
		s.ttl = d
		return nil
	})
}

// WithVisibleSuffix makes [NewFPE] keep the last n characters of each value
// in the clear and encrypt only the characters before them, which must then
// still meet FF1's minimum length. The visible suffix is bound into the FF1
// tweak, so equal prefixes with different suffixes encrypt differently.
// n is 0 to 16.
func WithVisibleSuffix(n int) Option {
	return optionFunc(func(s *settings) error {
		if !s.forFPE {
			return fmt.Errorf("tokenize: WithVisibleSuffix applies to NewFPE only")
		}
		if n < 0 || n > maxVisibleSuffix {
			return fmt.Errorf("tokenize: WithVisibleSuffix(%d): want 0 to %d", n, maxVisibleSuffix)
		}
		s.visibleLast = n
		return nil
	})
}

const maxVisibleSuffix = 16

// A TokenOption changes how [Tokenizer.Tokenize] stores one token. Token
// options come from [ForSubject] and [ExpiresIn]; the interface is sealed.
type TokenOption interface {
	applyItem(it *Item) error
}

type tokenOptionFunc func(it *Item) error

func (f tokenOptionFunc) applyItem(it *Item) error { return f(it) }

// ForSubject records that the token belongs to the data subject subject (a
// customer or user ID), so that [Tokenizer.DeleteSubject] can delete it. The
// store keeps a keyed PRF of the subject, not the subject itself.
func ForSubject(subject string) TokenOption {
	return tokenOptionFunc(func(it *Item) error {
		it.Subject = subject
		return nil
	})
}

// ExpiresIn makes the token expire d after it is issued, overriding
// [WithTTL]. d must be positive.
func ExpiresIn(d time.Duration) TokenOption {
	return tokenOptionFunc(func(it *Item) error {
		if d <= 0 {
			return fmt.Errorf("tokenize: ExpiresIn(%v): the TTL must be positive", d)
		}
		it.TTL = d
		return nil
	})
}

// A StoreOption changes how [OpenSQLite] opens a vault. Store options come
// from [WithCreateTable]; the interface is sealed.
type StoreOption interface {
	applyStore(s *storeSettings)
}

// storeSettings are the options given to OpenSQLite.
type storeSettings struct {
	createTable bool
}

type storeOptionFunc func(s *storeSettings)

func (f storeOptionFunc) applyStore(s *storeSettings) { f(s) }

// WithCreateTable makes [OpenSQLite] create the vault's table and indexes
// when they do not exist, for development, tests and the first deployment
// of a vault. Without it, opening a database that has no vault is
// [ErrVaultNotFound], so that a mistyped path or DSN never starts an empty
// vault. A service that opens an existing vault should not pass it: then
// opening also needs no CREATE privilege.
func WithCreateTable() StoreOption {
	return storeOptionFunc(func(s *storeSettings) { s.createTable = true })
}
