package stores_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
)

var ctx = context.Background()

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// newKEK returns a fresh random master key for keys.NewLocalKEK.
func newKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, keys.MasterKeySize)
	rand.Read(k)
	return k
}

type record struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt,aad=ID"`
	Phone string `pii:"deterministic"`
}
