package kms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
)

// AWSAPI is the part of an AWS SDK v2 KMS client (*kms.Client of
// github.com/aws/aws-sdk-go-v2/service/kms) that an aws-kms:// KEK calls.
type AWSAPI = awskms.KMSAPI

type awsConfig struct {
	api      AWSAPI
	endpoint string
}

// WithAWSClient makes aws-kms:// KEKs call api, an AWS SDK v2 KMS client
// such as kms.NewFromConfig(cfg), instead of one built from the default
// configuration (environment, shared files, instance role) for the URI's
// region.
func WithAWSClient(api AWSAPI) Option {
	return optionFunc(func(c *config) error {
		if api == nil {
			return errors.New("kms: WithAWSClient(nil)")
		}
		c.aws.api = api
		return nil
	})
}

// WithAWSEndpoint makes aws-kms:// KEKs built from the default
// configuration send their calls to endpoint, a URL such as
// "http://127.0.0.1:8080" for a local KMS emulator or a VPC endpoint.
func WithAWSEndpoint(endpoint string) Option {
	return optionFunc(func(c *config) error {
		c.aws.endpoint = endpoint
		return nil
	})
}

var awsRegionRE = regexp.MustCompile(`^aws-kms://arn:aws[a-zA-Z0-9-_]*:kms:([a-z0-9-]+):`)

func newAWS(ctx context.Context, uri string, c awsConfig) (*KEK, error) {
	m := awsRegionRE.FindStringSubmatch(uri)
	if m == nil {
		return nil, fmt.Errorf("kms: AWS key URI %q is not aws-kms://arn:<partition>:kms:<region>:<account>:key/<id>", uri)
	}
	api := c.api
	if api == nil {
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(m[1]))
		if err != nil {
			return nil, fmt.Errorf("kms: AWS configuration: %v", err)
		}
		api = awssdkkms.NewFromConfig(cfg, func(o *awssdkkms.Options) {
			if c.endpoint != "" {
				o.BaseEndpoint = aws.String(c.endpoint)
			}
			if o.Credentials != nil {
				o.Credentials = markedCredentials{o.Credentials}
			}
		})
	}
	// tink-go-awskms v3 passes the caller's context to every SDK call and
	// binds associated data as the encryption context.
	p, err := awskms.NewAEADWithContext(ctx, strings.TrimPrefix(uri, "aws-kms://"), awskms.WithKMS(api))
	if err != nil {
		return nil, fmt.Errorf("kms: %v", err)
	}
	return &KEK{uri: uri, aead: p, classify: classifyAWS}, nil
}

// classifyAWS marks credential and permission failures as access denied,
// and every other failure but a refused ciphertext as the KMS being
// unavailable.
func classifyAWS(err error) error {
	var credErr *credentialsError
	var signErr *v4.SigningError
	if errors.As(err, &credErr) || errors.As(err, &signErr) {
		// No credentials could be found or refreshed to sign the call.
		return denied(err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidCiphertextException", "IncorrectKeyException":
			return err
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
			"IncompleteSignature", "IncompleteSignatureException", "InvalidClientTokenId",
			"MissingAuthenticationToken", "MissingAuthenticationTokenException",
			"ExpiredToken", "ExpiredTokenException", "NotAuthorized":
			return denied(err)
		}
	}
	return unavailable(err)
}

// markedCredentials marks the failures of the default credential chain
// (no environment variables, shared files or instance role; an expired SSO
// session) as credentialsError, so that they are access denied rather than
// an unavailable KMS. A retrieval cut short by the caller's context stays
// unmarked.
type markedCredentials struct{ aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		err = &credentialsError{err: err}
	}
	return c, err
}

// credentialsError is a failure to find or refresh AWS credentials.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "AWS credentials: " + e.err.Error() }

func (e *credentialsError) Unwrap() error { return e.err }
