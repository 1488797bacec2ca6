package tokenize_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
	"github.com/tillid/tillid/tokenize"
)

// The memory store passes the token store suite; the SQL stores run it in
// the module github.com/tillid/tillid/stores, which has their drivers.
func TestMemoryStore(t *testing.T) {
	t.Parallel()
	piitest.TestTokenStore(t, func(t *testing.T, n int) []tokenize.Store {
		s := tokenize.NewMemoryStore()
		out := make([]tokenize.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	})
}

func newTokenizer(t testing.TB, p keys.Provider, s tokenize.Store, domain string, mode tokenize.Mode, opts ...tokenize.Option) *tokenize.Tokenizer {
	t.Helper()
	tk, err := tokenize.New(p, s, domain, mode, opts...)
	require.NoError(t, err, "tokenize.New")
	return tk
}
