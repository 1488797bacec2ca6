package pii

import (
	"errors"
	"reflect"
	"time"
)

// A tokenize= field with retain= gets vault tokens that expire when its
// rule runs out (pendingToken.expiresAt), so that the vault's Purge and a
// retention sweep agree. Once the record's rule has run out by the
// tokenizer's clock, its token is gone from the vault, or about to be: that
// is retention, not tampering. So Reveal gives such a field its zero value
// and lists it in Report.Expired, without asking the vault, and reveals
// the rest of the record; Protect keeps the stored token as it is. A token
// minted for a value already past its rule (Protect of an old record)
// expires at once and reveals as expired: the value's time was up. A token
// missing from the vault while its rule has not run out still fails with
// ErrDecryption.

// errExpiredLeaf is what a reveal leaf returns for a vault token whose
// retention rule ran out; the walk turns it into the value's zero
// (expiredLeaf).
var errExpiredLeaf = errors.New("pii: vault token expired with its retention rule")

// tokenExpired reports whether a token of vt expiring at end (the field's
// retention end; zero for none) is expired by vt's clock.
func tokenExpired(vt vaultTokenizer, end time.Time) bool {
	return !end.IsZero() && !end.After(vt.t.Now())
}

// expiredToken is what deferVault returns for an expired token: the
// expired leaf in Reveal; in Protect nothing to do (no change).
func (r *run) expiredToken() error {
	if r.verb == verbReveal {
		return errExpiredLeaf
	}
	return nil
}

// expiredLeaf sets the string leaf v, whose vault token expired with its
// rule, to its zero value, and records its path.
func (r *run) expiredLeaf(v reflect.Value) error {
	r.subjects.expired = append(r.subjects.expired, r.pathString())
	if !v.IsZero() {
		r.zero(v)
	}
	return nil
}
