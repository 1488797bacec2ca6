package keys_test

import (
	"os"
	"testing"

	"github.com/tillid/tillid/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
