package kms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
)

type vaultConfig struct {
	cfg *api.Config
}

// WithVaultConfig makes hcvault:// KEKs use cfg (its TLS settings and
// timeouts; its address is taken from the key URI unless cfg.Address is
// set) instead of api.DefaultConfig(). The token comes from VAULT_TOKEN.
// NewKEK changes cfg's HTTP transport, to carry each caller's context, and
// turns off the client's retries, which would not see the context.
func WithVaultConfig(cfg *api.Config) Option {
	return optionFunc(func(c *config) error {
		if cfg == nil {
			return errors.New("kms: WithVaultConfig(nil)")
		}
		c.vault.cfg = cfg
		return nil
	})
}

// callHeader carries a call's number from a Vault request callback to the
// transport, which swaps in the call's context and drops the header.
const callHeader = "X-Tillid-Kek-Call"

// ctxTransport gives each Vault request the context of the KEK call that
// made it.
type ctxTransport struct {
	base  http.RoundTripper
	calls sync.Map // string → context.Context
	next  atomic.Uint64
}

func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	id := req.Header.Get(callHeader)
	if v, ok := t.calls.Load(id); ok && id != "" {
		req = req.Clone(v.(context.Context))
		req.Header.Del(callHeader)
	}
	return t.base.RoundTrip(req)
}

func newVault(_ context.Context, uri string, c vaultConfig) (*KEK, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("kms: Vault key URI %q is not hcvault://<host>[:<port>]/<mount>/keys/<name>", uri)
	}
	parts := strings.Split(u.Path, "/")
	if len(parts) < 4 || parts[len(parts)-2] != "keys" {
		return nil, fmt.Errorf("kms: Vault key URI %q is not hcvault://<host>[:<port>]/<mount>/keys/<name>", uri)
	}
	cfg := c.cfg
	if cfg == nil {
		cfg = api.DefaultConfig()
		if cfg.Error != nil {
			return nil, fmt.Errorf("kms: Vault config: %v", cfg.Error)
		}
		cfg.Address = ""
	}
	if cfg.Address == "" || c.cfg == nil {
		cfg.Address = "https://" + u.Host
	}
	hc := &http.Client{}
	if cfg.HttpClient != nil {
		*hc = *cfg.HttpClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr := &ctxTransport{base: base}
	hc.Transport = tr
	cfg.HttpClient = hc
	cfg.MaxRetries = 0
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("kms: Vault client: %v", err)
	}
	client.SetMaxRetries(0)
	return &KEK{uri: uri, aead: &vaultAEAD{client: client, keyPath: u.Path, tr: tr}, classify: classifyVault}, nil
}

// vaultAEAD calls Vault transit through tink-go-hcvault with the caller's
// context, which the transport attaches to the HTTP request.
type vaultAEAD struct {
	client  *api.Client
	keyPath string
	tr      *ctxTransport
}

func (a *vaultAEAD) call(ctx context.Context, f func(p interface {
	Encrypt(pt, ad []byte) ([]byte, error)
	Decrypt(ct, ad []byte) ([]byte, error)
}) ([]byte, error)) ([]byte, error) {
	id := strconv.FormatUint(a.tr.next.Add(1), 10)
	a.tr.calls.Store(id, ctx)
	defer a.tr.calls.Delete(id)
	c := a.client.WithRequestCallbacks(func(r *api.Request) { r.Headers.Set(callHeader, id) })
	p, err := hcvault.NewAEAD(a.keyPath, c.Logical())
	if err != nil {
		return nil, err
	}
	return f(p)
}

func (a *vaultAEAD) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	return a.call(ctx, func(p interface {
		Encrypt(pt, ad []byte) ([]byte, error)
		Decrypt(ct, ad []byte) ([]byte, error)
	}) ([]byte, error) {
		return p.Encrypt(plaintext, associatedData)
	})
}

func (a *vaultAEAD) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	return a.call(ctx, func(p interface {
		Encrypt(pt, ad []byte) ([]byte, error)
		Decrypt(ct, ad []byte) ([]byte, error)
	}) ([]byte, error) {
		return p.Decrypt(ciphertext, associatedData)
	})
}

// classifyVault marks a refused token or policy (HTTP 401, 403) as access
// denied, and every other failure but a refused ciphertext (HTTP 400 from
// transit) as Vault being unavailable.
func classifyVault(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusBadRequest:
			return err
		case http.StatusUnauthorized, http.StatusForbidden:
			return denied(err)
		}
	}
	return unavailable(err)
}
