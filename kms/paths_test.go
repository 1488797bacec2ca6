package kms_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/kms"
	"github.com/tillid/tillid/piitest"
)

// testStorePaths checks, on a SQL keyset store over kek, that every path
// that calls the KMS reports a KMS that hangs past the caller's deadline as
// keys.ErrKMSUnavailable wrapping context.DeadlineExceeded: creating a
// keyset (a wrap), rotating it (an unwrap, then a wrap), reading it once
// its cache TTL has passed (an unwrap), and Refresh after another instance
// changed it (an unwrap). hang makes the KMS hang or answer again.
func testStorePaths(t *testing.T, kek *kms.KEK, hang func(bool)) {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "keys.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	open := func(opts ...keys.StoreOption) *keys.SQLStore {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := keys.OpenSQLite(ctx, db, kek, append([]keys.StoreOption{keys.WithCreateMissing()}, opts...)...)
		require.NoError(t, err)
		return s
	}
	const ttl = time.Minute
	clk := &piitest.Clock{}
	app := open(keys.WithCacheTTL(ttl), keys.WithClock(clk.Now))
	cli := open()
	_, err := app.Keyset(ctx, "crm", keys.KindAEAD)
	require.NoError(t, err, "creating a keyset with the KMS up")
	_, err = cli.Keyset(ctx, "crm", keys.KindAEAD) // the CLI caches it too
	require.NoError(t, err)

	paths := []struct {
		name   string
		before func() // with the KMS up
		call   func(ctx context.Context) error
	}{
		{name: "create (wrap)", call: func(ctx context.Context) error {
			_, err := app.Keyset(ctx, "new", keys.KindPRF)
			return err
		}},
		{name: "rotate (unwrap, wrap)", call: func(ctx context.Context) error {
			_, err := app.Rotate(ctx, "crm", keys.KindAEAD)
			return err
		}},
		{name: "read after the TTL (unwrap)", before: func() { clk.Advance(ttl) }, call: func(ctx context.Context) error {
			_, err := app.Keyset(ctx, "crm", keys.KindAEAD)
			return err
		}},
		{name: "refresh after another instance rotated (unwrap)", before: func() {
			_, err := cli.Rotate(ctx, "crm", keys.KindAEAD)
			require.NoError(t, err, "the other instance's rotation")
			clk.Advance(2 * time.Second) // past Refresh's rate limit
		}, call: func(ctx context.Context) error {
			_, err := app.Refresh(ctx, "crm", keys.KindAEAD)
			return err
		}},
	}
	for _, p := range paths {
		hang(false)
		if p.before != nil {
			p.before()
		}
		hang(true)
		c, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		start := time.Now()
		err := p.call(c)
		cancel()
		assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "%s on a hanging KMS", p.name)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s on a hanging KMS", p.name)
		assert.NotErrorIs(t, err, keys.ErrKMSAccessDenied, "%s on a hanging KMS", p.name)
		assert.Less(t, time.Since(start), 2*time.Second, "%s on a hanging KMS outlived the deadline", p.name)
	}
	hang(false)
	_, err = app.Keyset(ctx, "crm", keys.KindAEAD)
	assert.NoError(t, err, "the store works again once the KMS answers")
}

// testDenied checks that a KMS refusing the caller's credentials or
// permissions is keys.ErrKMSAccessDenied, which also matches
// keys.ErrKMSUnavailable, through the KEK and through a keyset store, and
// that the message says so rather than "unreachable".
func testDenied(t *testing.T, kek *kms.KEK) {
	t.Helper()
	_, err := kek.EncryptWithContext(ctx, []byte("keyset"), []byte("ad"))
	assert.ErrorIs(t, err, keys.ErrKMSAccessDenied, "Encrypt refused for the credentials")
	assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "ErrKMSAccessDenied matches ErrKMSUnavailable")
	_, err = kek.DecryptWithContext(ctx, []byte("some ciphertext"), []byte("ad"))
	assert.ErrorIs(t, err, keys.ErrKMSAccessDenied, "Decrypt refused for the credentials")

	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "keys.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := keys.OpenSQLite(ctx, db, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	_, err = s.Keyset(ctx, "crm", keys.KindAEAD)
	assert.ErrorIs(t, err, keys.ErrKMSAccessDenied, "creating a keyset with refused credentials")
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "access denied", "the message says what to fix")
		assert.NotContains(t, err.Error(), "unreachable", "the message does not send the operator to the network")
	}
}

func TestAWSKMSPaths(t *testing.T) {
	var hang atomic.Bool
	kek := awsKEK(t, localAWS(t, &hang))
	testStorePaths(t, kek, hang.Store)
}

func TestGCPKMSPaths(t *testing.T) {
	f, opts := newFakeGCP(t)
	testStorePaths(t, gcpKEK(t, opts), f.hang.Store)
}

func TestVaultKMSPaths(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "test-token")
	var hang atomic.Bool
	testStorePaths(t, vaultKEK(t, fakeVault(t, &hang)), hang.Store)
}

const testKeyARN = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"

// An AWS KMS that refuses the identity (IAM), or credentials that cannot be
// found to sign the call, are access denied; throttling is not.
func TestAWSKMSDenied(t *testing.T) {
	var code atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code.Load().(string))
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"` + code.Load().(string) + `","message":"refused by the test server"}`))
	}))
	t.Cleanup(srv.Close)
	client := func(creds aws.CredentialsProvider) *kms.KEK {
		api := awssdkkms.New(awssdkkms.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, Retryer: aws.NopRetryer{}})
		kek, err := kms.NewKEK(ctx, "aws-kms://"+testKeyARN, kms.WithAWSClient(api))
		require.NoError(t, err)
		return kek
	}
	static := credentials.NewStaticCredentialsProvider("test", "test", "")
	for _, c := range []string{"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"} {
		code.Store(c)
		t.Run(c, func(t *testing.T) { testDenied(t, client(static)) })
	}
	t.Run("no credentials", func(t *testing.T) {
		// The default chain finds nothing: no variables, no shared files,
		// no instance metadata.
		dir := t.TempDir()
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
			t.Setenv(v, "")
		}
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_MAX_ATTEMPTS", "1")
		code.Store("ThrottlingException") // only the missing credentials can be denied
		kek, err := kms.NewKEK(ctx, "aws-kms://"+testKeyARN, kms.WithAWSEndpoint(srv.URL))
		require.NoError(t, err)
		testDenied(t, kek)
	})
	code.Store("ThrottlingException")
	_, err := client(static).EncryptWithContext(ctx, []byte("x"), nil)
	assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "throttling")
	assert.NotErrorIs(t, err, keys.ErrKMSAccessDenied, "throttling is not a permission problem")
	if assert.Error(t, err) {
		assert.True(t, strings.Contains(err.Error(), "unreachable"), "throttling reads as an unavailable KMS: %v", err)
	}
}

func TestGCPKMSDenied(t *testing.T) {
	f, opts := newFakeGCP(t)
	kek := gcpKEK(t, opts)
	f.deny.Store(true)
	testDenied(t, kek)
}

func TestVaultKMSDenied(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "wrong")
	testDenied(t, vaultKEK(t, fakeVault(t, nil)))
}
