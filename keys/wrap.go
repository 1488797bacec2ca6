package keys

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrKMSUnavailable means a call to the KMS that holds the KEK failed: the
// KMS could not be reached, did not answer before the caller's deadline,
// throttled, or refused the call for a reason other than a wrong key (a
// disabled or deleted KMS key, missing permissions). It is returned on every
// path that calls the KEK: creating a keyset (wrap), rotating and changing
// it (unwrap and wrap), reading it (unwrap) and [Refresher.Refresh]. Nothing
// is written when it is returned, and cached keysets keep working until
// their TTL ends (see [WithCacheTTL]). When the caller's context ended
// first, the error also wraps the context's error.
//
// A refusal for want of permission or credentials is also
// [ErrKMSAccessDenied]: test for that first, to tell an IAM policy or a
// credential to fix from a network or KMS outage to page for.
//
// KEKs from package kms mark their transport and service failures with
// it; a KEK written by the user may wrap it too.
var ErrKMSUnavailable = errors.New("keys: KMS unreachable")

// ErrKMSAccessDenied means the KMS answered and refused the caller: the
// credentials are missing, expired or invalid (an unknown access key, a
// Vault token that is not accepted, a request that could not be signed), or
// the identity has no permission to use the KMS key for that operation (an
// IAM or key policy, a Vault policy). Retrying does not help; fix the
// credentials or the policy. Errors that wrap it also match
// [ErrKMSUnavailable], since the call failed in the same way for every
// other purpose (nothing written, cached keysets kept), while the message
// says "access denied", not "unreachable".
//
// KEKs from package kms mark AWS AccessDeniedException and the signature,
// token and client-ID errors, GCP PermissionDenied and Unauthenticated, and
// Vault HTTP 401 and 403 with it.
var ErrKMSAccessDenied error = kmsAccessDenied{}

// kmsAccessDenied is ErrKMSAccessDenied: an error that also matches
// ErrKMSUnavailable.
type kmsAccessDenied struct{}

func (kmsAccessDenied) Error() string { return "keys: KMS access denied" }

func (kmsAccessDenied) Is(target error) bool { return target == ErrKMSUnavailable }

// errMalformedKEKAnswer marks a KEK answer that cannot be right: an empty or
// oversized wrapped keyset, or one that does not unwrap to what was wrapped.
var errMalformedKEKAnswer = errors.New("keys: the KEK (KMS) returned a malformed answer")

// MaxKeysetSize bounds a serialized keyset, in bytes: what a KEK is asked
// to wrap and what an unwrap may return. A keyset of AES-256-GCM keys takes
// about 80 bytes per key, so the bound is far above any real keyset.
const MaxKeysetSize = 1 << 20

// maxWrappedSize bounds what a KEK may return for an n-byte plaintext: room
// for base64 (Vault transit answers in text) and for a KMS header naming
// the key.
func maxWrappedSize(n int) int { return n + n/2 + 4096 }

// kekCall adapts a KEK to tink.AEADWithContext for one keyset read or
// write. It passes ctx on when the KEK takes one, checks what the KEK
// returns (pitfall P01), and keeps the KEK's own error, which Tink's keyset
// functions flatten into text.
type kekCall struct {
	kek tink.AEAD
	err error
}

var _ tink.AEADWithContext = (*kekCall)(nil)

func kekEncrypt(ctx context.Context, kek tink.AEAD, plaintext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c, ok := kek.(tink.AEADWithContext); ok {
		return c.EncryptWithContext(ctx, plaintext, associatedData)
	}
	return plainKEKCall(ctx, func() ([]byte, error) { return kek.Encrypt(plaintext, associatedData) })
}

func kekDecrypt(ctx context.Context, kek tink.AEAD, ciphertext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c, ok := kek.(tink.AEADWithContext); ok {
		return c.DecryptWithContext(ctx, ciphertext, associatedData)
	}
	return plainKEKCall(ctx, func() ([]byte, error) { return kek.Decrypt(ciphertext, associatedData) })
}

// plainKEKCall runs call, a method of a KEK that is a plain [tink.AEAD]
// (one that takes no context), and bounds the wait by ctx. A plain
// tink.AEAD cannot be cancelled: when ctx ends first, plainKEKCall returns
// ctx's error wrapped in [ErrKMSUnavailable] at once, and the call goes on
// in its goroutine until the KEK returns; its result is then discarded
// (the channel is buffered, so the goroutine ends with the KEK call and
// nothing else is left behind). Without a ctx that can end, the call runs
// on the caller's goroutine.
func plainKEKCall(ctx context.Context, call func() ([]byte, error)) ([]byte, error) {
	if ctx.Done() == nil {
		return call()
	}
	type answer struct {
		b   []byte
		err error
	}
	done := make(chan answer, 1)
	go func() {
		b, err := call()
		done <- answer{b, err}
	}()
	select {
	case a := <-done:
		return a.b, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: a KEK without context did not answer: %w", ErrKMSUnavailable, ctx.Err())
	}
}

// EncryptWithContext wraps plaintext (a serialized keyset), then unwraps the
// answer again and compares, so that nothing is stored that cannot be read
// back.
func (c *kekCall) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if len(plaintext) > MaxKeysetSize {
		c.err = fmt.Errorf("keys: the keyset is %d bytes, more than %d", len(plaintext), MaxKeysetSize)
		return nil, c.err
	}
	ct, err := kekEncrypt(ctx, c.kek, plaintext, associatedData)
	if err != nil {
		c.err = err
		return nil, err
	}
	if len(ct) <= len(plaintext) || len(ct) > maxWrappedSize(len(plaintext)) {
		c.err = fmt.Errorf("%w: %d bytes wrapping a %d-byte keyset", errMalformedKEKAnswer, len(ct), len(plaintext))
		return nil, c.err
	}
	back, err := kekDecrypt(ctx, c.kek, ct, associatedData)
	if err != nil {
		c.err = err
		return nil, err
	}
	if subtle.ConstantTimeCompare(back, plaintext) != 1 {
		c.err = fmt.Errorf("%w: the wrapped keyset does not unwrap to the keyset", errMalformedKEKAnswer)
		return nil, c.err
	}
	return ct, nil
}

// DecryptWithContext unwraps a keyset and checks the size of the answer.
func (c *kekCall) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := kekDecrypt(ctx, c.kek, ciphertext, associatedData)
	if err != nil {
		c.err = err
		return nil, err
	}
	if len(pt) == 0 || len(pt) > MaxKeysetSize {
		c.err = fmt.Errorf("%w: a %d-byte keyset", errMalformedKEKAnswer, len(pt))
		return nil, c.err
	}
	return pt, nil
}

// kekError turns the failure of a KEK call for keyset id into this
// package's error: the context's error when ctx ended, [ErrKMSUnavailable]
// when the KEK says so, the malformed-answer error, and otherwise
// [ErrWrongKEK] for an unwrap.
func kekError(ctx context.Context, unwrap bool, id KeysetID, kekErr, tinkErr error) error {
	op := "wrapping"
	if unwrap {
		op = "unwrapping"
	}
	err := kekErr
	if err == nil {
		err = tinkErr
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("keys: %s keyset %s: %w: %w", op, id, ErrKMSUnavailable, ctx.Err())
	case errors.Is(err, ErrKMSUnavailable), errors.Is(err, errMalformedKEKAnswer):
		return fmt.Errorf("keys: %s keyset %s: %w", op, id, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("keys: %s keyset %s: %w: %w", op, id, ErrKMSUnavailable, err)
	case unwrap:
		return fmt.Errorf("keys: keyset %s: %w (%v)", id, ErrWrongKEK, err)
	default:
		return fmt.Errorf("keys: %s keyset %s under the KEK: %v", op, id, err)
	}
}

// wrapKeyset encrypts h under kek with the keyset's associated data and
// returns Tink's JSON encrypted keyset.
func wrapKeyset(ctx context.Context, kek tink.AEAD, id KeysetID, h *keyset.Handle) (json.RawMessage, error) {
	var buf bytes.Buffer
	call := &kekCall{kek: kek}
	if err := h.WriteWithContext(ctx, keyset.NewJSONWriter(&buf), call, []byte(keysetLabel+id.String())); err != nil {
		return nil, kekError(ctx, false, id, call.err, err)
	}
	return json.RawMessage(bytes.TrimSpace(buf.Bytes())), nil
}

// unwrapKeyset decrypts Tink's JSON encrypted keyset raw under kek.
func unwrapKeyset(ctx context.Context, kek tink.AEAD, id KeysetID, raw []byte) (*keyset.Handle, error) {
	call := &kekCall{kek: kek}
	h, err := keyset.ReadWithContext(ctx, keyset.NewJSONReader(bytes.NewReader(raw)), call, []byte(keysetLabel+id.String()))
	if err != nil {
		return nil, kekError(ctx, true, id, call.err, err)
	}
	return h, nil
}
