package kms

import (
	"fmt"

	"github.com/tillid/tillid/keys"
)

// keysErrKMSUnavailable and keysErrKMSAccessDenied are the sentinels of
// package keys, named here once.
var (
	keysErrKMSUnavailable  = keys.ErrKMSUnavailable
	keysErrKMSAccessDenied = keys.ErrKMSAccessDenied
)

// unavailable marks err as a KMS that could not serve the call.
func unavailable(err error) error { return fmt.Errorf("%w: %w", keysErrKMSUnavailable, err) }

// denied marks err as a KMS that refused the caller's credentials or
// permissions; it matches keys.ErrKMSUnavailable too.
func denied(err error) error { return fmt.Errorf("%w: %w", keysErrKMSAccessDenied, err) }
