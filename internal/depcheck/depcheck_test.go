package depcheck_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/internal/depcheck"
)

// goCmd runs the go command in testdata/consumer as a module of its own
// (no workspace), so that it sees what a program outside this repository
// would.
func goCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = filepath.Join("testdata", "consumer")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

func TestConsumerModules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	mods := strings.Fields(strings.TrimSpace(goCmd(t, "list", "-m", "-f", "{{.Path}}", "all")))
	t.Logf("go list -m all: %d modules: %s", len(mods), strings.Join(mods, " "))
	assert.LessOrEqual(t, len(mods), depcheck.MaxConsumerModules, "a program that uses pii and a keyset file needs too many modules")
	for _, m := range mods {
		for _, bad := range forbidden {
			assert.False(t, strings.HasPrefix(m, bad), "module %s is in the graph of a program that uses pii and a keyset file", m)
		}
	}
}

// forbidden are module and package path prefixes that a program using pii
// and a keyset file must not compile.
var forbidden = []string{
	"github.com/jackc/",               // pgx
	"modernc.org/",                    // SQLite
	"github.com/mattn/go-sqlite3",     // SQLite (cgo)
	"github.com/aws/",                 // AWS SDKs
	"cloud.google.com/",               // Google Cloud KMS
	"google.golang.org/api",           // Google API clients
	"google.golang.org/grpc",          // gRPC
	"github.com/hashicorp/",           // Vault
	"github.com/tink-crypto/tink-go-", // Tink's KMS extensions
	"github.com/tillid/tillid/kms",
	"github.com/tillid/tillid/stores",
}

func TestConsumerPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	pkgs := strings.Fields(goCmd(t, "list", "-deps", "."))
	require.NotEmpty(t, pkgs)
	assert.Contains(t, pkgs, "github.com/tillid/tillid/pii", "the consumer does not use pii: the test measures nothing")
	for _, p := range pkgs {
		for _, bad := range forbidden {
			assert.False(t, strings.HasPrefix(p, bad), "package %s is compiled into a program that uses pii and a keyset file", p)
		}
	}
	// The binary's size, for the record (go test -v shows it).
	bin := filepath.Join(t.TempDir(), "consumer")
	goCmd(t, "build", "-o", bin, ".")
	info, err := os.Stat(bin)
	require.NoError(t, err)
	t.Logf("consumer binary: %d bytes, %d packages", info.Size(), len(pkgs))
}

// The core module's go.mod names only Tink, the golang.org/x modules it
// uses, the test libraries and what those need (protobuf for Tink, YAML for
// testify).
func TestCoreRequirements(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "mod", "edit", "-json", filepath.Join("..", "..", "go.mod"))
	out, err := cmd.Output()
	require.NoError(t, err, "go mod edit -json")
	var f struct {
		Module  struct{ Path string }
		Require []struct{ Path string }
	}
	require.NoError(t, json.Unmarshal(out, &f))
	require.Equal(t, "github.com/tillid/tillid", f.Module.Path, "not the core module's go.mod")
	require.NotEmpty(t, f.Require)
	allowed := map[string]bool{
		"github.com/tink-crypto/tink-go/v2": true,
		"golang.org/x/crypto":               true,
		"golang.org/x/text":                 true,
		"golang.org/x/sync":                 true,
		"github.com/stretchr/testify":       true,
		"github.com/google/go-cmp":          true,
		"google.golang.org/protobuf":        true, // Tink's
		"go.yaml.in/yaml/v3":                true, // testify's
	}
	for _, r := range f.Require {
		assert.True(t, allowed[r.Path], "the core module requires %s", r.Path)
	}
}
