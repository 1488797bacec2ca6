package kms

import "github.com/tillid/tillid/keys"

// keysErrKMSUnavailable is keys.ErrKMSUnavailable, named here once.
var keysErrKMSUnavailable = keys.ErrKMSUnavailable
