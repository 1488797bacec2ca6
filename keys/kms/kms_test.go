package kms_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	awssdkkms "github.com/aws/aws-sdk-go/service/kms"
	"github.com/hashicorp/vault/api"
	localkms "github.com/nsmithuk/local-kms/src"
	localkmsconfig "github.com/nsmithuk/local-kms/src/config"
	localkmsdata "github.com/nsmithuk/local-kms/src/data"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/keys/kms"
	"github.com/tillid/tillid/pii"
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
// AWS SDK client for it and the ARN of a new symmetric key. hang, when set,
// makes the server hold every request until the client gives up.
func localAWS(t *testing.T, hang *atomic.Bool) (*awssdkkms.KMS, string) {
	t.Helper()
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
	sess, err := session.NewSession(aws.NewConfig().
		WithRegion("eu-west-1").
		WithEndpoint(srv.URL).
		WithCredentials(credentials.NewStaticCredentials("test", "test", "")).
		WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	client := awssdkkms.New(sess)
	out, err := client.CreateKey(&awssdkkms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return client, *out.KeyMetadata.Arn
}

// The AWS KEK, against a real KMS API (local-kms), keeps a SQLite keyset
// store and protects values through it.
func TestAWSKMS(t *testing.T) {
	client, arn := localAWS(t, nil)
	kek, err := kms.NewKEK(ctx, "aws-kms://"+arn, kms.WithAWSClient(client))
	if err != nil {
		t.Fatal(err)
	}
	testKEK(t, kek)

	// A ciphertext of another key is refused as a wrong KEK, not as an
	// outage.
	out, err := client.CreateKey(&awssdkkms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := kms.NewKEK(ctx, "aws-kms://"+*out.KeyMetadata.Arn, kms.WithAWSClient(client))
	ct, err := kek.EncryptWithContext(ctx, []byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.DecryptWithContext(ctx, ct, []byte("ad")); err == nil || errors.Is(err, keys.ErrKMSUnavailable) {
		t.Errorf("Decrypt under another key = %v, want an error that is not ErrKMSUnavailable", err)
	}
	if _, err := kek.DecryptWithContext(ctx, ct, []byte("other ad")); err == nil {
		t.Error("Decrypt with other associated data succeeded")
	}
}

func TestAWSKMSHangs(t *testing.T) {
	var hang atomic.Bool
	client, arn := localAWS(t, &hang)
	kek, err := kms.NewKEK(ctx, "aws-kms://"+arn, kms.WithAWSClient(client))
	if err != nil {
		t.Fatal(err)
	}
	hang.Store(true)
	testHang(t, kek)
}

// An AWS KMS that cannot be reached is ErrKMSUnavailable.
func TestAWSKMSUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	kek, err := kms.NewKEK(ctx, "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000", kms.WithAWSEndpoint("http://"+addr))
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := kek.EncryptWithContext(c, []byte("x"), nil); !errors.Is(err, keys.ErrKMSUnavailable) {
		t.Errorf("Encrypt on a closed port = %v, want ErrKMSUnavailable", err)
	}
}

func TestNewKEKBadURIs(t *testing.T) {
	for _, uri := range []string{
		"", "local://x", "aws-kms://not-an-arn", "gcp-kms://nothing", "hcvault://", "hcvault://host/transit/name",
	} {
		if _, err := kms.NewKEK(ctx, uri); err == nil {
			t.Errorf("NewKEK(%q) succeeded", uri)
		}
	}
	if _, err := kms.NewKEK(ctx, "aws-kms://arn:aws:kms:eu-west-1:1:key/x", kms.WithAWSClient(nil)); err == nil {
		t.Error("WithAWSClient(nil) accepted")
	}
}

// fakeGCP is a Cloud KMS gRPC server with one AES-GCM key per key name.
type fakeGCP struct {
	kmspb.UnimplementedKeyManagementServiceServer
	aead tink.AEAD
	hang atomic.Bool
}

func crc(b []byte) int64 { return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))) }

func (f *fakeGCP) Encrypt(ctx context.Context, r *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	if f.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
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
	if f.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	pt, err := f.aead.Decrypt(r.Ciphertext, append([]byte(r.Name+"|"), r.AdditionalAuthenticatedData...))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "Decryption failed: the ciphertext is invalid.")
	}
	return &kmspb.DecryptResponse{Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(crc(pt))}, nil
}

func newFakeGCP(t *testing.T) (*fakeGCP, []option.ClientOption) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := aead.New(h)
	f := &fakeGCP{aead: p}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

const gcpURI = "gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k"

func TestGCPKMS(t *testing.T) {
	_, opts := newFakeGCP(t)
	kek, err := kms.NewKEK(ctx, gcpURI, kms.WithGCPClientOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	defer kek.Close()
	testKEK(t, kek)
	ct, _ := kek.EncryptWithContext(ctx, []byte("x"), []byte("ad"))
	if _, err := kek.DecryptWithContext(ctx, ct, []byte("other")); err == nil || errors.Is(err, keys.ErrKMSUnavailable) {
		t.Errorf("Decrypt with other associated data = %v, want a refusal that is not ErrKMSUnavailable", err)
	}
}

func TestGCPKMSHangs(t *testing.T) {
	f, opts := newFakeGCP(t)
	kek, err := kms.NewKEK(ctx, gcpURI, kms.WithGCPClientOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	defer kek.Close()
	// Connect first, so that the goroutine count holds the connection's.
	if _, err := kek.EncryptWithContext(ctx, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	f.hang.Store(true)
	testHang(t, kek)
}

// fakeVault serves Vault's transit encrypt and decrypt endpoints.
func fakeVault(t *testing.T, hang *atomic.Bool) *httptest.Server {
	h, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	p, _ := aead.New(h)
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
		ad, _ := base64.StdEncoding.DecodeString(body["associated_data"])
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/transit/encrypt/"):
			pt, _ := base64.StdEncoding.DecodeString(body["plaintext"])
			ct, _ := p.Encrypt(pt, ad)
			fmt.Fprintf(w, `{"data":{"ciphertext":"vault:v1:%s"}}`, base64.StdEncoding.EncodeToString(ct))
		case strings.HasPrefix(r.URL.Path, "/v1/transit/decrypt/"):
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(body["ciphertext"], "vault:v1:"))
			pt, err := p.Decrypt(raw, ad)
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

func vaultKEK(t *testing.T, srv *httptest.Server) *kms.KEK {
	t.Setenv("VAULT_TOKEN", "test-token")
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	u := strings.TrimPrefix(srv.URL, "http://")
	kek, err := kms.NewKEK(ctx, "hcvault://"+u+"/transit/keys/tillid", kms.WithVaultConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func TestVaultKMS(t *testing.T) {
	kek := vaultKEK(t, fakeVault(t, nil))
	testKEK(t, kek)
	ct, _ := kek.EncryptWithContext(ctx, []byte("x"), []byte("ad"))
	if _, err := kek.DecryptWithContext(ctx, ct, []byte("other")); err == nil || errors.Is(err, keys.ErrKMSUnavailable) {
		t.Errorf("Decrypt with other associated data = %v, want a refusal that is not ErrKMSUnavailable", err)
	}
	// A refused token is an unavailable KMS, not a wrong ciphertext.
	srv := fakeVault(t, nil)
	denied := vaultKEK(t, srv)
	t.Setenv("VAULT_TOKEN", "wrong")
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	denied, _ = kms.NewKEK(ctx, "hcvault://"+strings.TrimPrefix(srv.URL, "http://")+"/transit/keys/tillid", kms.WithVaultConfig(cfg))
	if _, err := denied.EncryptWithContext(ctx, []byte("x"), nil); !errors.Is(err, keys.ErrKMSUnavailable) {
		t.Errorf("Encrypt with a refused token = %v, want ErrKMSUnavailable", err)
	}
}

func TestVaultKMSHangs(t *testing.T) {
	var hang atomic.Bool
	kek := vaultKEK(t, fakeVault(t, &hang))
	if _, err := kek.EncryptWithContext(ctx, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	hang.Store(true)
	testHang(t, kek)
}

// testKEK checks a KEK end to end: round trips, and a SQLite keyset store
// under it that protects and reveals values and survives a reopen.
func testKEK(t *testing.T, kek *kms.KEK) {
	t.Helper()
	ct, err := kek.EncryptWithContext(ctx, []byte("keyset bytes"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := kek.DecryptWithContext(ctx, ct, []byte("ad")); err != nil || string(pt) != "keyset bytes" {
		t.Fatalf("round trip = %q, %v", pt, err)
	}
	if pt, err := kek.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "keyset bytes" {
		t.Fatalf("round trip without context = %q, %v", pt, err)
	}
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := keys.OpenSQLite(ctx, db, kek)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pii.New(store)
	type user struct {
		Email string `pii:"encrypt"`
	}
	u := user{Email: "a@example.com"}
	if err := p.Protect(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Rotate(ctx, "default", keys.KindAEAD); err != nil {
		t.Fatal(err)
	}
	again, _ := keys.OpenSQLite(ctx, db, kek)
	p2, _ := pii.New(again)
	if err := p2.Reveal(ctx, &u); err != nil || u.Email != "a@example.com" {
		t.Fatalf("Reveal through a reopened store = %v, %q", err, u.Email)
	}
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
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, keys.ErrKMSUnavailable) {
			t.Errorf("%s on a hanging KMS = %v, want context.DeadlineExceeded and ErrKMSUnavailable", op, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s on a hanging KMS took %v, want about the 100ms deadline", op, d)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after the calls, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
