package kms

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/session"
	awssdkkms "github.com/aws/aws-sdk-go/service/kms"
	"github.com/aws/aws-sdk-go/service/kms/kmsiface"
	"github.com/tink-crypto/tink-go-awskms/v2/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/tink"
)

type awsConfig struct {
	api      kmsiface.KMSAPI
	endpoint string
}

// WithAWSClient makes aws-kms:// KEKs call api, an AWS SDK KMS client such
// as kms.New(session), instead of one built from the default session
// (environment, shared files, instance role) for the URI's region.
func WithAWSClient(api kmsiface.KMSAPI) Option {
	return optionFunc(func(c *config) error {
		if api == nil {
			return errors.New("kms: WithAWSClient(nil)")
		}
		c.aws.api = api
		return nil
	})
}

// WithAWSEndpoint makes aws-kms:// KEKs built from the default session send
// their calls to endpoint, a URL such as "http://127.0.0.1:8080" for a
// local KMS emulator or a VPC endpoint.
func WithAWSEndpoint(endpoint string) Option {
	return optionFunc(func(c *config) error {
		c.aws.endpoint = endpoint
		return nil
	})
}

var awsRegionRE = regexp.MustCompile(`^aws-kms://arn:aws[a-zA-Z0-9-_]*:kms:([a-z0-9-]+):`)

func newAWS(_ context.Context, uri string, c awsConfig) (*KEK, error) {
	m := awsRegionRE.FindStringSubmatch(uri)
	if m == nil {
		return nil, fmt.Errorf("kms: AWS key URI %q is not aws-kms://arn:<partition>:kms:<region>:<account>:key/<id>", uri)
	}
	api := c.api
	if api == nil {
		cfg := aws.NewConfig().WithRegion(m[1])
		if c.endpoint != "" {
			cfg = cfg.WithEndpoint(c.endpoint)
		}
		sess, err := session.NewSession(cfg)
		if err != nil {
			return nil, fmt.Errorf("kms: AWS session: %v", err)
		}
		api = awssdkkms.New(sess)
	}
	// Let Tink check the URI once.
	client, err := awskms.NewClientWithOptions(uri, awskms.WithKMS(api))
	if err != nil {
		return nil, fmt.Errorf("kms: %v", err)
	}
	if _, err := client.GetAEAD(uri); err != nil {
		return nil, fmt.Errorf("kms: %v", err)
	}
	return &KEK{uri: uri, aead: &awsAEAD{uri: uri, api: api}, classify: classifyAWS}, nil
}

// awsAEAD calls AWS KMS through tink-go-awskms with the caller's context:
// the Tink AEAD calls Encrypt and Decrypt of the SDK client, which here are
// bound to ctx.
type awsAEAD struct {
	uri string
	api kmsiface.KMSAPI
}

func (a *awsAEAD) aead(ctx context.Context) (tink.AEAD, error) {
	client, err := awskms.NewClientWithOptions(a.uri, awskms.WithKMS(boundAWS{a.api, ctx}))
	if err != nil {
		return nil, err
	}
	return client.GetAEAD(a.uri)
}

func (a *awsAEAD) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	p, err := a.aead(ctx)
	if err != nil {
		return nil, err
	}
	return p.Encrypt(plaintext, associatedData)
}

func (a *awsAEAD) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	p, err := a.aead(ctx)
	if err != nil {
		return nil, err
	}
	return p.Decrypt(ciphertext, associatedData)
}

// boundAWS is a KMS client whose Encrypt and Decrypt carry ctx.
type boundAWS struct {
	kmsiface.KMSAPI
	ctx context.Context
}

func (b boundAWS) Encrypt(in *awssdkkms.EncryptInput) (*awssdkkms.EncryptOutput, error) {
	return b.KMSAPI.EncryptWithContext(b.ctx, in)
}

func (b boundAWS) Decrypt(in *awssdkkms.DecryptInput) (*awssdkkms.DecryptOutput, error) {
	return b.KMSAPI.DecryptWithContext(b.ctx, in)
}

// classifyAWS marks every failure but a refused ciphertext as the KMS
// being unavailable.
func classifyAWS(err error) error {
	var ae awserr.Error
	if errors.As(err, &ae) {
		switch ae.Code() {
		case awssdkkms.ErrCodeInvalidCiphertextException, awssdkkms.ErrCodeIncorrectKeyException:
			return err
		}
	}
	return unavailable(err)
}
