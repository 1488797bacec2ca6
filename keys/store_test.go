package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/piitest"
)

var ctx = context.Background()

func newKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, keys.MasterKeySize)
	rand.Read(k)
	return k
}

func TestMemoryLifecycle(t *testing.T) {
	t.Parallel()
	s := keys.NewMemory()
	a, err := s.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	again, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	assert.Same(t, again, a, "Keyset returned a new snapshot without a change")
	k1 := a.PrimaryKeyID()
	k2, err := s.Rotate(ctx, "default", keys.KindAEAD)
	require.NoError(t, err, "Rotate = %d, %v", k2, err)
	require.NotEqual(t, k1, k2, "Rotate = %d, %v", k2, err)
	b, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	require.Equal(t, k2, b.PrimaryKeyID(), "after Rotate: %v", b)
	require.Len(t, b.Keys(), 2, "after Rotate: %v", b)
	// The old snapshot is unchanged.
	assert.Equal(t, k1, a.PrimaryKeyID(), "old snapshot changed: %v", a)
	assert.Len(t, a.Keys(), 1, "old snapshot changed: %v", a)
	// Old ciphertexts decrypt under the new snapshot.
	aeadA, _ := a.AEAD()
	ct, _ := aeadA.Encrypt([]byte("x"), nil)
	aeadB, _ := b.AEAD()
	pt, err := aeadB.Decrypt(ct, nil)
	assert.NoError(t, err, "decrypt after rotation = %q, %v", pt, err)
	assert.Equal(t, "x", string(pt), "decrypt after rotation = %q, %v", pt, err)

	require.NoError(t, s.Disable(ctx, "default", keys.KindAEAD, k1))
	c, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	st, _ := c.Status(k1)
	assert.Equal(t, keyset.Disabled, st, "status after Disable = %v", st)
	assert.ErrorIs(t, c.CheckKeyID(k1), keys.ErrKeyDisabled, "CheckKeyID(disabled)")
	assert.ErrorIs(t, c.CheckKeyID(12345), keys.ErrKeyNotFound, "CheckKeyID(unknown)")
	assert.Error(t, s.Disable(ctx, "default", keys.KindAEAD, k2), "Disable(primary) succeeded")
	require.NoError(t, s.Enable(ctx, "default", keys.KindAEAD, k1))
	d, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	assert.NoError(t, d.CheckKeyID(k1), "CheckKeyID after Enable")
	assert.ErrorIs(t, s.Disable(ctx, "nope", keys.KindAEAD, 1), keys.ErrKeyNotFound, "Disable(unknown keyset)")
	assert.ErrorIs(t, s.Disable(ctx, "default", keys.KindAEAD, 999), keys.ErrKeyNotFound, "Disable(unknown key)")
}

func TestKindsAndNames(t *testing.T) {
	t.Parallel()
	s := keys.NewMemory()
	for _, k := range []keys.Kind{keys.KindAEAD, keys.KindDeterministicAEAD, keys.KindPRF} {
		ks, err := s.Keyset(ctx, "n", k)
		require.NoError(t, err, "%v: %v", k, err)
		got, err := keys.ParseKind(k.String())
		assert.NoError(t, err, "ParseKind(%q) = %v, %v", k, got, err)
		assert.Equal(t, k, got, "ParseKind(%q) = %v, %v", k, got, err)
		_, e1 := ks.AEAD()
		_, e2 := ks.DeterministicAEAD()
		_, e3 := ks.PRF()
		ok := map[keys.Kind]bool{keys.KindAEAD: e1 == nil, keys.KindDeterministicAEAD: e2 == nil, keys.KindPRF: e3 == nil}
		for kk, v := range ok {
			assert.Equal(t, kk == k, v, "keyset %v: primitive %v available = %v", k, kk, v)
		}
	}
	_, err := s.Keyset(ctx, "n", keys.KindUnknown)
	assert.ErrorIs(t, err, keys.ErrInvalidKind, "KindUnknown")
	for _, bad := range []string{"", "Upper", "a b", "a/b", strings.Repeat("a", 65)} {
		_, err := s.Keyset(ctx, bad, keys.KindAEAD)
		assert.ErrorIs(t, err, keys.ErrKeyNotFound, "name %q: %v", bad, err)
	}
	var zero keys.Keyset
	_, err = zero.AEAD()
	assert.ErrorIs(t, err, keys.ErrNoPrimaryKey, "zero Keyset AEAD()")
	_, err = keys.NewKeyset("x", keys.KindAEAD, nil)
	assert.ErrorIs(t, err, keys.ErrNoPrimaryKey, "NewKeyset(nil)")
	daead, _ := s.Keyset(ctx, "n", keys.KindDeterministicAEAD)
	_, err = keys.NewKeyset("x", keys.KindAEAD, daead.Handle())
	assert.Error(t, err, "NewKeyset accepted a deterministic AEAD handle as AEAD")
}

func TestKeysetStringHidesKeys(t *testing.T) {
	t.Parallel()
	ks, _ := piitest.NewFixedProvider().Keyset(ctx, "x", keys.KindAEAD)
	s := ks.String() + ks.GoString()
	assert.Contains(t, s, "1000000001", "String() = %q, want key ID and status", s)
	assert.Contains(t, s, "Enabled", "String() = %q, want key ID and status", s)
	// The fixed AEAD key is bytes 0x00..0x1f.
	for _, f := range []string{"AAECAwQF", "000102030405", "\x00\x01\x02"} {
		assert.NotContains(t, s, f, "String() shows key material: %q", s)
	}
}

func TestFileStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "keysets.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "OpenFile created the file before any keyset")
	a, err := s.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "keyset file mode = %v, want 0600", st.Mode().Perm())
	k2, _ := s.Rotate(ctx, "default", keys.KindAEAD)
	s.Keyset(ctx, "crm", keys.KindDeterministicAEAD)
	s.Disable(ctx, "default", keys.KindAEAD, a.PrimaryKeyID())

	// Reopen: same keys, same statuses.
	s2, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	b, _ := s2.Keyset(ctx, "default", keys.KindAEAD)
	assert.Equal(t, k2, b.PrimaryKeyID(), "reopened primary = %d, want %d", b.PrimaryKeyID(), k2)
	status, _ := b.Status(a.PrimaryKeyID())
	assert.Equal(t, keyset.Disabled, status, "reopened status = %v, want Disabled", status)
	ks, err := s2.List(ctx)
	assert.NoError(t, err, "reopened store has %d keysets (%v), want 2", len(ks), err)
	assert.Len(t, ks, 2, "reopened store has %d keysets (%v), want 2", len(ks), err)
	// Values encrypted before reopening decrypt after.
	s.Enable(ctx, "default", keys.KindAEAD, a.PrimaryKeyID())
	s3, _ := keys.OpenFile(path, kek)
	aOld, _ := a.AEAD()
	ct, _ := aOld.Encrypt([]byte("v"), []byte("ad"))
	c, _ := s3.Keyset(ctx, "default", keys.KindAEAD)
	cA, _ := c.AEAD()
	pt, err := cA.Decrypt(ct, []byte("ad"))
	assert.NoError(t, err, "decrypt after reopen = %q, %v", pt, err)
	assert.Equal(t, "v", string(pt), "decrypt after reopen = %q, %v", pt, err)

	// The file holds no key material in clear.
	raw, _ := os.ReadFile(path)
	assert.False(t, bytes.Contains(raw, []byte("keyValue")), "keyset file is not encrypted:\n%s", raw)
	assert.True(t, bytes.Contains(raw, []byte("encryptedKeyset")), "keyset file is not encrypted:\n%s", raw)

	// A wrong KEK is a clear error and never overwrites the file.
	wrong, _ := keys.NewLocalKEK(newKEK(t))
	_, err = keys.OpenFile(path, wrong)
	assert.ErrorIs(t, err, keys.ErrWrongKEK, "OpenFile(wrong KEK) = %v, want ErrWrongKEK", err)
	after, _ := os.ReadFile(path)
	assert.True(t, bytes.Equal(raw, after), "OpenFile with a wrong KEK changed the file")
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		if e.Name() != filepath.Base(path)+".lock" {
			names = append(names, e.Name())
		}
	}
	assert.Len(t, names, 1, "directory holds %v, want only the keyset file and its lock (no temp files left)", names)
	// A keyset moved to another name does not decrypt (associated data).
	moved := bytes.Replace(raw, []byte(`"crm/daead"`), []byte(`"other/daead"`), 1)
	mpath := filepath.Join(dir, "moved.json")
	os.WriteFile(mpath, moved, 0o600)
	_, err = keys.OpenFile(mpath, kek)
	assert.ErrorIs(t, err, keys.ErrWrongKEK, "OpenFile(renamed keyset) = %v, want ErrWrongKEK", err)
	for name, content := range map[string]string{"empty": "", "garbage": "{", "version": `{"version":9,"keysets":{}}`, "badid": `{"version":1,"keysets":{"x":{}}}`, "trailing": string(raw) + `{"version":1}`} {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(content), 0o600)
		_, err := keys.OpenFile(p, kek)
		assert.Error(t, err, "OpenFile(%s) succeeded", name)
	}
	_, err = keys.OpenFile(path, nil)
	assert.ErrorIs(t, err, keys.ErrInvalidKEK, "OpenFile(nil KEK)")
}

// A failed write loses nothing: the store stays as it was.
func TestFileStoreWriteFailure(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "k.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	s, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	a, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	_, err := s.Rotate(ctx, "default", keys.KindAEAD)
	require.Error(t, err, "Rotate succeeded in a read-only directory")
	b, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	assert.Equal(t, a, b, "a failed write changed the published keyset")
}

func TestFileStoreConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	s, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				_, err := s.Rotate(ctx, "default", keys.KindAEAD)
				assert.NoError(t, err)
				_, err = s.Keyset(ctx, "k"+string(rune('a'+i)), keys.KindPRF)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	s2, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	ks, _ := s2.Keyset(ctx, "default", keys.KindAEAD)
	n := len(ks.Keys())
	assert.EqualValues(t, 41, n, "after 40 concurrent rotations: %d keys, want 41: the first key and 40 rotations (none lost)", n)
}

func TestMasterKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	require.NoError(t, keys.GenerateMasterKeyFile(path))
	st, _ := os.Stat(path)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "master key mode = %v", st.Mode().Perm())
	before, _ := os.ReadFile(path)
	assert.ErrorIs(t, keys.GenerateMasterKeyFile(path), fs.ErrExist, "second Generate")
	after, _ := os.ReadFile(path)
	assert.True(t, bytes.Equal(before, after), "GenerateMasterKeyFile overwrote a key")
	kek, err := keys.ReadKEKFile(path)
	require.NoError(t, err)
	ct, _ := kek.Encrypt([]byte("x"), nil)
	t.Setenv("TILLID_TEST_MASTER_KEY", string(before))
	envKEK, err := keys.ReadKEKEnv("TILLID_TEST_MASTER_KEY")
	require.NoError(t, err)
	pt, err := envKEK.Decrypt(ct, nil)
	assert.NoError(t, err, "file and environment KEKs differ")
	assert.Equal(t, "x", string(pt), "file and environment KEKs differ")
	t.Setenv("TILLID_TEST_BAD", "c2hvcnQ=")
	for _, name := range []string{"TILLID_TEST_UNSET_XYZ", "TILLID_TEST_BAD"} {
		_, err := keys.ReadKEKEnv(name)
		assert.ErrorIs(t, err, keys.ErrInvalidKEK, "ReadKEKEnv(%s) = %v", name, err)
	}
	_, err = keys.NewLocalKEK(make([]byte, 16))
	assert.ErrorIs(t, err, keys.ErrInvalidKEK, "16-byte master key")
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not base64 secret-ish"), 0o600)
	_, err = keys.ReadKEKFile(bad)
	require.ErrorIs(t, err, keys.ErrInvalidKEK, "ReadKEKFile(bad)")
	assert.NotContains(t, err.Error(), "secret-ish", "ReadKEKFile(bad)")
	_, err = keys.ParseMasterKey(strings.TrimSpace(string(before)) + "\n")
	assert.NoError(t, err, "ParseMasterKey with a trailing newline")
}

func TestForKey(t *testing.T) {
	t.Parallel()
	s := keys.NewMemory()
	old, _ := s.Keyset(ctx, "d", keys.KindDeterministicAEAD)
	k1 := old.PrimaryKeyID()
	oldD, _ := old.DeterministicAEAD()
	want, _ := oldD.EncryptDeterministically([]byte("x"), []byte("ad"))
	k2, _ := s.Rotate(ctx, "d", keys.KindDeterministicAEAD)
	cur, _ := s.Keyset(ctx, "d", keys.KindDeterministicAEAD)
	ids := cur.EnabledKeyIDs()
	require.Len(t, ids, 2, "EnabledKeyIDs = %v, want [%d %d]", ids, k2, k1)
	require.Equal(t, k2, ids[0], "EnabledKeyIDs = %v, want [%d %d]", ids, k2, k1)
	require.Equal(t, k1, ids[1], "EnabledKeyIDs = %v, want [%d %d]", ids, k2, k1)
	one, err := cur.ForKey(k1)
	require.NoError(t, err)
	d, _ := one.DeterministicAEAD()
	got, _ := d.EncryptDeterministically([]byte("x"), []byte("ad"))
	assert.True(t, bytes.Equal(got, want), "ForKey(old).EncryptDeterministically differs from the old primary's ciphertext")
	again, _ := cur.ForKey(k1)
	assert.Equal(t, one, again, "ForKey is not cached")
	p, _ := cur.ForKey(k2)
	assert.Equal(t, cur, p, "ForKey(primary) is not the keyset itself")
	s.Disable(ctx, "d", keys.KindDeterministicAEAD, k1)
	cur, _ = s.Keyset(ctx, "d", keys.KindDeterministicAEAD)
	_, err = cur.ForKey(k1)
	assert.ErrorIs(t, err, keys.ErrKeyDisabled, "ForKey(disabled)")
	ids = cur.EnabledKeyIDs()
	assert.Len(t, ids, 1, "EnabledKeyIDs after Disable = %v", ids)
	prfKS, _ := s.Keyset(ctx, "p", keys.KindPRF)
	_, err = prfKS.ForKey(prfKS.PrimaryKeyID())
	assert.ErrorIs(t, err, keys.ErrInvalidKind, "ForKey on a PRF keyset")
}

func TestPRFForMatchesTink(t *testing.T) {
	t.Parallel()
	s := keys.NewMemory()
	ks, _ := s.Keyset(ctx, "p", keys.KindPRF)
	set, _ := ks.PRF()
	fast, err := ks.PRFFor(ks.PrimaryKeyID())
	require.NoError(t, err)
	for _, n := range []uint32{1, 16, 32} {
		for _, in := range []string{"", "a", strings.Repeat("x", 200)} {
			want, _ := set.PRFs[ks.PrimaryKeyID()].ComputePRF([]byte(in), n)
			got, err := fast.ComputePRF([]byte(in), n)
			assert.NoError(t, err, "PRFFor(%d bytes of %q) = %x, %v; Tink gives %x", n, in, got, err, want)
			assert.True(t, bytes.Equal(got, want), "PRFFor(%d bytes of %q) = %x, %v; Tink gives %x", n, in, got, err, want)
		}
	}
	_, err = fast.ComputePRF(nil, 33)
	assert.Error(t, err, "33-byte output accepted")
	_, err = ks.PRFFor(42)
	assert.ErrorIs(t, err, keys.ErrKeyNotFound, "PRFFor(unknown)")
	aead, _ := s.Keyset(ctx, "a", keys.KindAEAD)
	_, err = aead.PRFFor(aead.PrimaryKeyID())
	assert.Error(t, err, "PRFFor on an AEAD keyset succeeded")
}

func TestPlaceholderMasterKeyRefused(t *testing.T) {
	t.Parallel()
	for _, b := range []byte{0x00, 0xff, 0x42} {
		_, err := keys.NewLocalKEK(bytes.Repeat([]byte{b}, keys.MasterKeySize))
		assert.ErrorIs(t, err, keys.ErrInvalidKEK, "master key of %#x repeated: %v, want ErrInvalidKEK", b, err)
	}
	_, err := keys.NewLocalKEK(piitest.MasterKey())
	assert.NoError(t, err, "piitest.MasterKey")
}

type fileRecord struct {
	ID      string `pii:"-"`
	Email   string `pii:"encrypt,aad=ID"`
	Billing string `pii:"encrypt,key=billing"`
}

// Two processes on one keyset file (an application and the tillid CLI): the
// application reads values under keys the CLI added at once, never erases
// them when it writes the file, and picks up the new primary shortly.
func TestFileStoreSharedWithAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keysets.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	app, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	require.NoError(t, err)
	pApp, _ := pii.New(app)
	r := fileRecord{ID: "1", Email: "a@example.com"}
	require.NoError(t, pApp.Protect(ctx, &r))

	cli, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	newKey, err := cli.Rotate(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	pCLI, _ := pii.New(cli)
	_, err = pCLI.Rewrap(ctx, &r)
	require.NoError(t, err)

	got := r
	err = pApp.Reveal(ctx, &got)
	require.NoError(t, err, "application Reveal of a value the CLI rewrapped = %v, %q", err, got.Email)
	require.Equal(t, "a@example.com", got.Email, "application Reveal of a value the CLI rewrapped = %v, %q", err, got.Email)
	// The application creates another keyset: the CLI's rotation survives.
	w := fileRecord{ID: "2", Email: "b@example.com", Billing: "x"}
	require.NoError(t, pApp.Protect(ctx, &w))
	reopened, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	ks, _ := reopened.Keyset(ctx, "default", keys.KindAEAD)
	require.Equal(t, newKey, ks.PrimaryKeyID(), "after the application wrote the file: %v, want primary %d of 2 keys", ks, newKey)
	require.Len(t, ks.Keys(), 2, "after the application wrote the file: %v, want primary %d of 2 keys", ks, newKey)
	list, err := reopened.List(ctx)
	assert.NoError(t, err, "keysets in the file: %d (%v), want 2", len(list), err)
	assert.Len(t, list, 2, "keysets in the file: %d (%v), want 2", len(list), err)
	// And the application moves to the new primary within a few seconds.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ks, err := app.Keyset(ctx, "default", keys.KindAEAD)
		require.NoError(t, err)
		if ks.PrimaryKeyID() == newKey {
			break
		}
		require.False(t, time.Now().After(deadline), "the application never saw the CLI's rotation")
		time.Sleep(100 * time.Millisecond)
	}
}

func TestZeroSQLStoreRefused(t *testing.T) {
	t.Parallel()
	var zero keys.SQLStore
	_, err := zero.Keyset(ctx, "default", keys.KindAEAD)
	assert.Error(t, err, "a zero SQLStore served a keyset")
	for name, op := range map[string]func() error{
		"Disable": func() error { return zero.Disable(ctx, "d", keys.KindAEAD, 1) },
		"Enable":  func() error { return zero.Enable(ctx, "d", keys.KindAEAD, 1) },
		"Destroy": func() error { return zero.Destroy(ctx, "d", keys.KindAEAD, 1) },
	} {
		assert.Error(t, op(), "%s on a zero SQLStore succeeded", name)
	}
	p, _ := pii.New(&zero)
	assert.ErrorIs(t, p.Protect(ctx, &fileRecord{ID: "1", Email: "a@example.com"}), pii.ErrKeyProvider, "Protect over a zero SQLStore")
}

// Two processes (here: two stores) changing one keyset file at the same
// time lose nothing: changes take turns under the file lock.
func TestFileStoreConcurrentProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "k.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	a, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	b, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	_, err := a.Keyset(ctx, "default", keys.KindAEAD)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 30 {
			_, err := a.Rotate(ctx, "default", keys.KindAEAD)
			assert.NoError(t, err)
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 60 {
			_, err := b.Keyset(ctx, fmt.Sprintf("k%03d", i), keys.KindAEAD)
			assert.NoError(t, err)
		}
	}()
	wg.Wait()
	c, err := keys.OpenFile(path, kek)
	require.NoError(t, err)
	ks, _ := c.Keyset(ctx, "default", keys.KindAEAD)
	n := len(ks.Keys())
	assert.EqualValues(t, 31, n, "default has %d keys after 30 rotations beside another writer, want 31", n)
	list, err := c.List(ctx)
	assert.NoError(t, err, "%d keysets (%v), want 61", len(list), err)
	assert.Len(t, list, 61, "%d keysets (%v), want 61", len(list), err)
}
