//go:build unix

package keys_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
)

// The environment of the child writer of TestKilledWriterLeavesNoCopies.
const (
	killedWriterPathEnv = "TILLID_TEST_KILLED_WRITER_PATH"
	killedWriterKeyEnv  = "TILLID_TEST_KILLED_WRITER_KEY"
)

// TestHelperKilledWriter is not a test: run by TestKilledWriterLeavesNoCopies
// as a child process, it rotates the keyset file and stops between writing
// its temporary file and renaming it, until it is killed.
func TestHelperKilledWriter(t *testing.T) {
	path := os.Getenv(killedWriterPathEnv)
	if path == "" {
		t.Skip("run as a child process by TestKilledWriterLeavesNoCopies")
	}
	raw, err := base64.StdEncoding.DecodeString(os.Getenv(killedWriterKeyEnv))
	require.NoError(t, err)
	kek, err := keys.NewLocalKEK(raw)
	require.NoError(t, err)
	s, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	keys.SetTestHookBeforeRename(func(tmp string) {
		fmt.Printf("written %s\n", tmp)
		select {} // until SIGKILL
	})
	s.Rotate(context.Background(), "default", keys.KindAEAD)
	t.Fatal("the writer was not stopped before its rename")
}

// killWriterMidWrite runs a child process that rotates default/aead in the
// keyset file at path and kills it with SIGKILL between its write and its
// rename, and returns the temporary file it left.
func killWriterMidWrite(t *testing.T, path string, masterKey []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperKilledWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), killedWriterPathEnv+"="+path, killedWriterKeyEnv+"="+base64.StdEncoding.EncodeToString(masterKey))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var tmp string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if name, ok := strings.CutPrefix(lines.Text(), "written "); ok {
			tmp = name
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	require.NotEmpty(t, tmp, "the child never reached its rename")
	_, err = os.Stat(tmp)
	require.NoError(t, err, "the killed writer left no temporary file: the test proves nothing")
	return tmp
}

// encryptedKeysets returns the Tink encrypted keysets in a keyset file's
// content, or nil when it is no keyset file.
func encryptedKeysets(b []byte) []string {
	var f struct {
		Keysets map[string]struct {
			EncryptedKeyset string `json:"encryptedKeyset"`
		} `json:"keysets"`
	}
	if json.Unmarshal(b, &f) != nil {
		return nil
	}
	var out []string
	for _, ks := range f.Keysets {
		out = append(out, ks.EncryptedKeyset)
	}
	return out
}

// A writer killed between its write and its rename leaves a full copy of
// the keysets. Opening the store removes it, and so does the next write:
// after Destroy, the destroyed key survives in no file of the directory.
func TestKilledWriterLeavesNoCopies(t *testing.T) {
	ctx := context.Background()
	masterKey := make([]byte, keys.MasterKeySize)
	copy(masterKey, "killed-writer-test-master-key-32")
	kek, err := keys.NewLocalKEK(masterKey)
	require.NoError(t, err)

	t.Run("open removes the copy", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "keysets.json")
		s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
		require.NoError(t, err)
		_, err = s.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		tmp := killWriterMidWrite(t, path, masterKey)

		_, err = keys.OpenFile(path, kek)
		require.NoError(t, err)
		_, err = os.Stat(tmp)
		assert.ErrorIs(t, err, os.ErrNotExist, "OpenFile left the killed writer's copy")
	})

	t.Run("destroy leaves no copy of the key", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "keysets.json")
		s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
		require.NoError(t, err)
		first, err := s.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		doomed := first.PrimaryKeyID()
		_, err = s.Rotate(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)

		// s is open already: only its own writes can clean up now.
		tmp := killWriterMidWrite(t, path, masterKey)
		var holding []string // the encrypted keysets that hold the doomed key
		for _, name := range []string{path, tmp} {
			b, err := os.ReadFile(name)
			require.NoError(t, err)
			found := encryptedKeysets(b)
			require.NotEmpty(t, found, "%s is not a keyset file", name)
			holding = append(holding, found...)
		}

		require.NoError(t, s.Disable(ctx, "default", keys.KindAEAD, doomed))
		require.NoError(t, s.Destroy(ctx, "default", keys.KindAEAD, doomed))

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			name := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(name)
			require.NoError(t, err)
			for _, h := range holding {
				assert.NotContains(t, string(b), h, "%s still holds a keyset with destroyed key %d", e.Name(), doomed)
			}
			if encryptedKeysets(b) == nil {
				continue
			}
			// Any keyset file in the directory reads the key as destroyed.
			cp := filepath.Join(t.TempDir(), "copy.json")
			require.NoError(t, os.WriteFile(cp, b, 0o600))
			c, err := keys.OpenFile(cp, kek)
			require.NoError(t, err)
			ks, err := c.Keyset(ctx, "default", keys.KindAEAD)
			require.NoError(t, err)
			st, _ := ks.Status(doomed)
			assert.Equal(t, keyset.Destroyed, st, "%s: key %d", e.Name(), doomed)
		}
		assert.NotContains(t, dirNames(t, dir), filepath.Base(tmp))
	})
}

// A repeated Destroy writes nothing, and still removes a temporary copy of
// the file that holds the key before it reports success.
func TestDestroyAgainRemovesCopies(t *testing.T) {
	ctx := context.Background()
	kek := safetyKEK(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keysets.json")
	s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	first, err := s.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	doomed := first.PrimaryKeyID()
	_, err = s.Rotate(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	before, err := os.ReadFile(path) // holds the doomed key, enabled
	require.NoError(t, err)
	require.NoError(t, s.Disable(ctx, "default", keys.KindAEAD, doomed))
	require.NoError(t, s.Destroy(ctx, "default", keys.KindAEAD, doomed))

	stale := filepath.Join(dir, ".keysets.json.tmp-4242")
	require.NoError(t, os.WriteFile(stale, before, 0o600))
	require.NoError(t, s.Destroy(ctx, "default", keys.KindAEAD, doomed), "Destroy of a destroyed key")
	_, err = os.Stat(stale)
	assert.ErrorIs(t, err, os.ErrNotExist, "a repeated Destroy reported success beside a copy that holds the key")
}
