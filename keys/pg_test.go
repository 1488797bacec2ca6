package keys_test

import (
	"testing"

	"github.com/tillid/tillid/internal/pgtest"
)

func pgtestDSN(t *testing.T) string { return pgtest.DSN(t) }
