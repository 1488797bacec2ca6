// Package kms builds key-encryption keys (KEKs) held in a cloud KMS, chosen
// by key URI, for the keyset stores of package keys. It is a module of its
// own (github.com/tillid/tillid/kms), so that only programs that use a cloud
// KMS compile the cloud SDKs:
//
//	aws-kms://arn:aws:kms:<region>:<account>:key/<id>            AWS KMS (tink-go-awskms/v3, AWS SDK v2)
//	gcp-kms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>   Google Cloud KMS (tink-go-gcpkms, gRPC)
//	hcvault://<host>[:<port>]/<mount>/keys/<name>                 HashiCorp Vault transit (tink-go-hcvault)
//
// Most users call [NewKEK] once at start-up and pass the result to
// keys.OpenPostgres or keys.OpenSQLite:
//
//	kek, err := kms.NewKEK(ctx, os.Getenv("TILLID_KEK_URI"))
//	store, err := keys.OpenPostgres(ctx, pool, kek)
//
// # Contexts and failures
//
// Every call to the KMS carries the caller's context, so its deadline and
// cancellation hold (the Tink extensions alone call AWS and Vault without
// one). Transport and service failures — a KMS that cannot be reached,
// times out, throttles, or refuses the key — are reported wrapping
// keys.ErrKMSUnavailable, also when the context had ended before the call;
// a refusal of the caller's credentials or permissions (AWS
// AccessDeniedException and signature or token errors, GCP PermissionDenied
// and Unauthenticated, Vault 401 and 403) wraps keys.ErrKMSAccessDenied as
// well, so that an operator knows to fix a credential or a policy rather
// than page for an outage. A ciphertext the KMS will not decrypt under the
// key is neither, so that the store reports keys.ErrWrongKEK for it. The stores
// of package keys check every answer (an empty or oversized wrapped keyset
// is refused, and every wrap is unwrapped again before it is stored), and
// cache unwrapped keysets, so a KEK is called about once per keyset per
// cache TTL, not once per value.
//
// Credentials come from each cloud's usual sources (environment, shared
// files, instance metadata, VAULT_TOKEN), never from a URI or a flag.
package kms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// KEK is a key-encryption key held in a KMS. It implements tink.AEAD and
// tink.AEADWithContext; the stores of package keys use the latter, with the
// caller's context. Encrypt and Decrypt, without a context, are for code
// that cannot pass one and are bounded only by the client's own timeouts.
// A KEK is safe for concurrent use. Close releases its connections.
type KEK struct {
	uri      string
	aead     tink.AEADWithContext
	classify func(error) error
	close    func() error
}

var (
	_ tink.AEAD            = (*KEK)(nil)
	_ tink.AEADWithContext = (*KEK)(nil)
)

// Option is a rare setting of [NewKEK]: a client for one KMS, mostly for
// tests and local emulators. Its method is unexported so that only this
// package makes options.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	aws   awsConfig
	gcp   gcpConfig
	vault vaultConfig
}

// NewKEK returns the KEK named by uri: an aws-kms://, gcp-kms:// or
// hcvault:// key URI, as in the package doc. ctx bounds the set-up only
// (making a client); the KMS is not called. It returns an error for any
// other scheme or a malformed URI.
func NewKEK(ctx context.Context, uri string, opts ...Option) (*KEK, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok {
		return nil, fmt.Errorf("kms: key URI %q has no scheme; want aws-kms://, gcp-kms:// or hcvault://", uri)
	}
	switch strings.ToLower(scheme) {
	case "aws-kms":
		return newAWS(ctx, uri, c.aws)
	case "gcp-kms":
		return newGCP(ctx, uri, c.gcp)
	case "hcvault":
		return newVault(ctx, uri, c.vault)
	default:
		return nil, fmt.Errorf("kms: key URI scheme %q is not supported; want aws-kms://, gcp-kms:// or hcvault://", scheme)
	}
}

// URI returns the key URI the KEK was made from. It is not secret.
func (k *KEK) URI() string { return k.uri }

// String returns "kms.KEK{<uri>}".
func (k *KEK) String() string { return "kms.KEK{" + k.uri + "}" }

// EncryptWithContext wraps plaintext under the KMS key, with associatedData
// bound to it (the AWS encryption context, GCP additional authenticated
// data, Vault transit context). Failures of the KMS wrap
// keys.ErrKMSUnavailable, and the context's error when ctx ended; a refusal
// of the credentials or permissions also wraps keys.ErrKMSAccessDenied.
func (k *KEK) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: %s: %w: %w", k.uri, keysErrKMSUnavailable, err)
	}
	ct, err := k.aead.EncryptWithContext(ctx, plaintext, associatedData)
	if err != nil {
		return nil, k.fail(ctx, "encrypt", err)
	}
	return ct, nil
}

// DecryptWithContext unwraps ciphertext under the KMS key. Failures of the
// KMS wrap keys.ErrKMSUnavailable, and the context's error when ctx ended;
// a refusal of the credentials or permissions also wraps
// keys.ErrKMSAccessDenied; a ciphertext the KMS refuses wraps neither.
func (k *KEK) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: %s: %w: %w", k.uri, keysErrKMSUnavailable, err)
	}
	pt, err := k.aead.DecryptWithContext(ctx, ciphertext, associatedData)
	if err != nil {
		return nil, k.fail(ctx, "decrypt", err)
	}
	return pt, nil
}

// Encrypt is EncryptWithContext with context.Background().
func (k *KEK) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return k.EncryptWithContext(context.Background(), plaintext, associatedData)
}

// Decrypt is DecryptWithContext with context.Background().
func (k *KEK) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	return k.DecryptWithContext(context.Background(), ciphertext, associatedData)
}

// Close releases the KEK's client connections. The KEK must not be used
// after.
func (k *KEK) Close() error {
	if k.close == nil {
		return nil
	}
	return k.close()
}

func (k *KEK) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("kms: %s %s: %w: %w", op, k.uri, keysErrKMSUnavailable, ctxErr)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("kms: %s %s: %w: %w", op, k.uri, keysErrKMSUnavailable, err)
	}
	return fmt.Errorf("kms: %s %s: %w", op, k.uri, k.classify(err))
}
