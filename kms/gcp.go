package kms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type gcpConfig struct {
	opts []option.ClientOption
}

// WithGCPClientOptions passes opts (credentials, endpoint, gRPC dial
// options) to the Google Cloud KMS client of gcp-kms:// KEKs, which
// otherwise uses Application Default Credentials.
func WithGCPClientOptions(opts ...option.ClientOption) Option {
	return optionFunc(func(c *config) error {
		c.gcp.opts = append(c.gcp.opts, opts...)
		return nil
	})
}

func newGCP(ctx context.Context, uri string, c gcpConfig) (*KEK, error) {
	name, _ := strings.CutPrefix(uri, "gcp-kms://")
	if !strings.HasPrefix(name, "projects/") || !strings.Contains(name, "/cryptoKeys/") {
		return nil, fmt.Errorf("kms: GCP key URI %q is not gcp-kms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>", uri)
	}
	client, err := gcpkms.NewClient(ctx, uri, gcpkms.WithTransport(gcpkms.TransportGRPC), gcpkms.WithGoogleAPIClientOptions(c.opts...))
	if err != nil {
		return nil, fmt.Errorf("kms: GCP KMS client: %v", err)
	}
	p, err := client.GetAEAD(uri)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("kms: %v", err)
	}
	withCtx, ok := p.(tink.AEADWithContext)
	if !ok {
		client.Close()
		return nil, errors.New("kms: the GCP KMS AEAD takes no context")
	}
	return &KEK{uri: uri, aead: withCtx, classify: classifyGCP, close: client.Close}, nil
}

// classifyGCP marks credential and permission failures as access denied,
// and every other failure but a refused ciphertext as the KMS being
// unavailable.
func classifyGCP(err error) error {
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.PermissionDenied, codes.Unauthenticated:
			return denied(err)
		case codes.InvalidArgument, codes.FailedPrecondition:
			if strings.Contains(strings.ToLower(s.Message()), "decrypt") {
				return err
			}
		}
	}
	return unavailable(err)
}
