package kms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kmspb "cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/hashicorp/vault/api"
	localkms "github.com/nsmithuk/local-kms/src"
	localkmsconfig "github.com/nsmithuk/local-kms/src/config"
	localkmsdata "github.com/nsmithuk/local-kms/src/data"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/kms"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

var ctx = context.Background()

// hangUp is a KMS that never answers: it reads the request and waits until
// the client goes away (or the test ends).
func hangUp(t *testing.T, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-t.Context().Done():
	}
}

// localAWS serves local-kms in this process on 127.0.0.1 and returns an
// AWS SDK v2 client for it. hang, when set, makes the server hold every
// request until the client gives up.
func localAWS(t *testing.T, hang *atomic.Bool) *awssdkkms.Client {
	t.Helper()
	logrus.SetOutput(io.Discard) // local-kms logs every call
	localkmsconfig.AWSRegion = "eu-west-1"
	localkmsconfig.AWSAccountId = "111122223333"
	db := localkmsdata.NewDatabase(filepath.Join(t.TempDir(), "kms"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang != nil && hang.Load() {
			hangUp(t, r)
			return
		}
		localkms.HandleRequest(w, r, db)
	}))
	t.Cleanup(srv.Close)
	return awssdkkms.New(awssdkkms.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
	})
}

// awsKEK creates a new symmetric key in local-kms and returns its KEK.
func awsKEK(t *testing.T, client *awssdkkms.Client) *kms.KEK {
	t.Helper()
	out, err := client.CreateKey(ctx, &awssdkkms.CreateKeyInput{})
	require.NoError(t, err, "CreateKey")
	kek, err := kms.NewKEK(ctx, "aws-kms://"+*out.KeyMetadata.Arn, kms.WithAWSClient(client))
	require.NoError(t, err, "NewKEK")
	return kek
}

// The AWS KEK, against a real KMS API (local-kms), passes the KEK suite and
// keeps a keyset store that protects values through it.
func TestAWSKMS(t *testing.T) {
	client := localAWS(t, nil)
	piitest.TestKEK(t, func(t *testing.T) tink.AEAD { return awsKEK(t, client) })
	testStore(t, awsKEK(t, client))
	testRefusals(t, awsKEK(t, client), awsKEK(t, client))
}

func TestAWSKMSHangs(t *testing.T) {
	var hang atomic.Bool
	kek := awsKEK(t, localAWS(t, &hang))
	hang.Store(true)
	testHang(t, kek)
}

// An AWS KMS that cannot be reached is ErrKMSUnavailable.
func TestAWSKMSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	kek, err := kms.NewKEK(ctx, "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000", kms.WithAWSEndpoint("http://"+addr))
	require.NoError(t, err)
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = kek.EncryptWithContext(c, []byte("x"), nil)
	assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "Encrypt on a closed port")
}

func TestNewKEKBadURIs(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"", "local://x", "aws-kms://not-an-arn", "gcp-kms://nothing", "hcvault://", "hcvault://host/transit/name",
	} {
		_, err := kms.NewKEK(ctx, uri)
		assert.Error(t, err, "NewKEK(%q)", uri)
	}
	_, err := kms.NewKEK(ctx, "aws-kms://arn:aws:kms:eu-west-1:1:key/x", kms.WithAWSClient(nil))
	assert.Error(t, err, "WithAWSClient(nil)")
}

// fakeGCP is a Cloud KMS gRPC server; each key name is a key of its own
// (the name is bound into the associated data of one AES-GCM key).
type fakeGCP struct {
	kmspb.UnimplementedKeyManagementServiceServer
	aead tink.AEAD
	hang atomic.Bool
	deny atomic.Bool // answer PermissionDenied, as for a missing IAM role
}

func (f *fakeGCP) refuse(ctx context.Context) error {
	if f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.deny.Load() {
		return status.Error(codes.PermissionDenied, "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource")
	}
	return nil
}

func crc(b []byte) int64 { return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))) }

func (f *fakeGCP) Encrypt(ctx context.Context, r *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	if err := f.refuse(ctx); err != nil {
		return nil, err
	}
	ct, err := f.aead.Encrypt(r.Plaintext, append([]byte(r.Name+"|"), r.AdditionalAuthenticatedData...))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kmspb.EncryptResponse{
		Name:                    r.Name + "/cryptoKeyVersions/1",
		Ciphertext:              ct,
		CiphertextCrc32C:        wrapperspb.Int64(crc(ct)),
		VerifiedPlaintextCrc32C: r.PlaintextCrc32C.GetValue() == crc(r.Plaintext),
		VerifiedAdditionalAuthenticatedDataCrc32C: r.AdditionalAuthenticatedDataCrc32C.GetValue() == crc(r.AdditionalAuthenticatedData),
	}, nil
}

func (f *fakeGCP) Decrypt(ctx context.Context, r *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	if err := f.refuse(ctx); err != nil {
		return nil, err
	}
	pt, err := f.aead.Decrypt(r.Ciphertext, append([]byte(r.Name+"|"), r.AdditionalAuthenticatedData...))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "Decryption failed: the ciphertext is invalid.")
	}
	return &kmspb.DecryptResponse{Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(crc(pt))}, nil
}

func newFakeGCP(t *testing.T) (*fakeGCP, []option.ClientOption) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	p, err := aead.New(h)
	require.NoError(t, err)
	f := &fakeGCP{aead: p}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(s, f)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return f, []option.ClientOption{
		option.WithEndpoint(ln.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

var keyCount atomic.Int64

func gcpKEK(t *testing.T, opts []option.ClientOption) *kms.KEK {
	t.Helper()
	uri := fmt.Sprintf("gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k%d", keyCount.Add(1))
	kek, err := kms.NewKEK(ctx, uri, kms.WithGCPClientOptions(opts...))
	require.NoError(t, err, "NewKEK")
	t.Cleanup(func() { kek.Close() })
	return kek
}

func TestGCPKMS(t *testing.T) {
	_, opts := newFakeGCP(t)
	piitest.TestKEK(t, func(t *testing.T) tink.AEAD { return gcpKEK(t, opts) })
	testStore(t, gcpKEK(t, opts))
	testRefusals(t, gcpKEK(t, opts), gcpKEK(t, opts))
}

func TestGCPKMSHangs(t *testing.T) {
	f, opts := newFakeGCP(t)
	kek := gcpKEK(t, opts)
	// Connect first, so that the goroutine count holds the connection's.
	_, err := kek.EncryptWithContext(ctx, []byte("x"), nil)
	require.NoError(t, err)
	f.hang.Store(true)
	testHang(t, kek)
}

// fakeVault serves Vault's transit encrypt and decrypt endpoints; each key
// name is a key of its own (bound into the associated data).
func fakeVault(t *testing.T, hang *atomic.Bool) *httptest.Server {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	require.NoError(t, err)
	p, err := aead.New(h)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang != nil && hang.Load() {
			hangUp(t, r)
			return
		}
		if r.Header.Get("X-Vault-Token") != "test-token" {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		bound, _ := base64.StdEncoding.DecodeString(body["associated_data"])
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		ad := append([]byte(name+"|"), bound...)
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/transit/encrypt/"):
			pt, _ := base64.StdEncoding.DecodeString(body["plaintext"])
			ct, _ := p.Encrypt(pt, ad)
			fmt.Fprintf(w, `{"data":{"ciphertext":"vault:v1:%s"}}`, base64.StdEncoding.EncodeToString(ct))
		case strings.HasPrefix(r.URL.Path, "/v1/transit/decrypt/"):
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(body["ciphertext"], "vault:v1:"))
			var pt []byte
			if err == nil {
				pt, err = p.Decrypt(raw, ad)
			}
			if err != nil {
				http.Error(w, `{"errors":["cipher: message authentication failed"]}`, http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, `{"data":{"plaintext":"%s"}}`, base64.StdEncoding.EncodeToString(pt))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// vaultKEK returns a KEK for a new key name on srv, with the token from
// VAULT_TOKEN.
func vaultKEK(t *testing.T, srv *httptest.Server) *kms.KEK {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	u := strings.TrimPrefix(srv.URL, "http://")
	kek, err := kms.NewKEK(ctx, fmt.Sprintf("hcvault://%s/transit/keys/tillid%d", u, keyCount.Add(1)), kms.WithVaultConfig(cfg))
	require.NoError(t, err, "NewKEK")
	return kek
}

func TestVaultKMS(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "test-token")
	srv := fakeVault(t, nil)
	piitest.TestKEK(t, func(t *testing.T) tink.AEAD { return vaultKEK(t, srv) })
	testStore(t, vaultKEK(t, srv))
	testRefusals(t, vaultKEK(t, srv), vaultKEK(t, srv))
}

func TestVaultKMSHangs(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "test-token")
	var hang atomic.Bool
	kek := vaultKEK(t, fakeVault(t, &hang))
	_, err := kek.EncryptWithContext(ctx, []byte("x"), nil)
	require.NoError(t, err)
	hang.Store(true)
	testHang(t, kek)
}

// testRefusals checks that a KMS's refusals of a ciphertext — under other
// associated data, or made under another key (other) — are reported as a
// wrong KEK, not as the KMS being unavailable, so that a store reports
// keys.ErrWrongKEK for them.
func testRefusals(t *testing.T, kek, other *kms.KEK) {
	t.Helper()
	ct, err := kek.EncryptWithContext(ctx, []byte("keyset"), []byte("ad"))
	require.NoError(t, err)
	for _, tt := range []struct {
		name string
		kek  *kms.KEK
		ad   string
	}{
		{"other associated data", kek, "other"},
		{"another key", other, "ad"},
	} {
		_, err := tt.kek.DecryptWithContext(ctx, ct, []byte(tt.ad))
		require.Error(t, err, "Decrypt with %s", tt.name)
		assert.NotErrorIs(t, err, keys.ErrKMSUnavailable, "Decrypt with %s", tt.name)
	}
}

// testStore checks a KEK end to end: a keyset file under it protects and
// reveals values, rotates, and reads again after a reopen.
func testStore(t *testing.T, kek *kms.KEK) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keysets.json")
	store, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err, "OpenFile")
	p, err := pii.New(store)
	require.NoError(t, err)
	type user struct {
		Email string `pii:"encrypt"`
	}
	u := user{Email: "a@example.com"}
	require.NoError(t, p.Protect(ctx, &u), "Protect")
	_, err = store.Rotate(ctx, "default", keys.KindAEAD)
	require.NoError(t, err, "Rotate")
	again, err := keys.OpenFile(path, kek)
	require.NoError(t, err, "reopening the keyset file")
	p2, err := pii.New(again)
	require.NoError(t, err)
	require.NoError(t, p2.Reveal(ctx, &u), "Reveal through a reopened store")
	assert.Equal(t, "a@example.com", u.Email)
}

// testHang checks pitfall P14 on a KEK whose KMS never answers: the
// caller's deadline holds, the error says so, and no goroutine is left.
func testHang(t *testing.T, kek *kms.KEK) {
	t.Helper()
	before := runtime.NumGoroutine()
	for _, op := range []string{"encrypt", "decrypt"} {
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		start := time.Now()
		var err error
		if op == "encrypt" {
			_, err = kek.EncryptWithContext(c, []byte("x"), nil)
		} else {
			_, err = kek.DecryptWithContext(c, []byte("some ciphertext"), nil)
		}
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s on a hanging KMS", op)
		assert.ErrorIs(t, err, keys.ErrKMSUnavailable, "%s on a hanging KMS", op)
		assert.Less(t, time.Since(start), 500*time.Millisecond, "%s on a hanging KMS took longer than about the 100ms deadline", op)
	}
	// Goroutines end on their own once the calls return; poll for that
	// here (assert.Eventually would add goroutines of its own).
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		assert.LessOrEqual(t, n, before, "goroutines after the calls to a hanging KMS:\n%s", buf[:runtime.Stack(buf, true)])
	}
}
