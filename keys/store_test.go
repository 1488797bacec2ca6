package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	s := keys.NewMemory()
	a, err := s.Keyset(ctx, "default", keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	if a != again {
		t.Error("Keyset returned a new snapshot without a change")
	}
	k1 := a.PrimaryKeyID()
	k2, err := s.Rotate(ctx, "default", keys.KindAEAD)
	if err != nil || k2 == k1 {
		t.Fatalf("Rotate = %d, %v", k2, err)
	}
	b, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	if b.PrimaryKeyID() != k2 || len(b.Keys()) != 2 {
		t.Fatalf("after Rotate: %v", b)
	}
	// The old snapshot is unchanged.
	if a.PrimaryKeyID() != k1 || len(a.Keys()) != 1 {
		t.Errorf("old snapshot changed: %v", a)
	}
	// Old ciphertexts decrypt under the new snapshot.
	aeadA, _ := a.AEAD()
	ct, _ := aeadA.Encrypt([]byte("x"), nil)
	aeadB, _ := b.AEAD()
	if pt, err := aeadB.Decrypt(ct, nil); err != nil || string(pt) != "x" {
		t.Errorf("decrypt after rotation = %q, %v", pt, err)
	}

	if err := s.Disable(ctx, "default", keys.KindAEAD, k1); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	if st, _ := c.Status(k1); st != keyset.Disabled {
		t.Errorf("status after Disable = %v", st)
	}
	if err := c.CheckKeyID(k1); !errors.Is(err, keys.ErrKeyDisabled) {
		t.Errorf("CheckKeyID(disabled) = %v", err)
	}
	if err := c.CheckKeyID(12345); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Errorf("CheckKeyID(unknown) = %v", err)
	}
	if err := s.Disable(ctx, "default", keys.KindAEAD, k2); err == nil {
		t.Error("Disable(primary) succeeded")
	}
	if err := s.Enable(ctx, "default", keys.KindAEAD, k1); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	if err := d.CheckKeyID(k1); err != nil {
		t.Errorf("CheckKeyID after Enable = %v", err)
	}
	if err := s.Disable(ctx, "nope", keys.KindAEAD, 1); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Errorf("Disable(unknown keyset) = %v", err)
	}
	if err := s.Disable(ctx, "default", keys.KindAEAD, 999); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Errorf("Disable(unknown key) = %v", err)
	}
}

func TestKindsAndNames(t *testing.T) {
	s := keys.NewMemory()
	for _, k := range []keys.Kind{keys.KindAEAD, keys.KindDeterministicAEAD, keys.KindPRF} {
		ks, err := s.Keyset(ctx, "n", k)
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		got, err := keys.ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
		_, e1 := ks.AEAD()
		_, e2 := ks.DeterministicAEAD()
		_, e3 := ks.PRF()
		ok := map[keys.Kind]bool{keys.KindAEAD: e1 == nil, keys.KindDeterministicAEAD: e2 == nil, keys.KindPRF: e3 == nil}
		for kk, v := range ok {
			if v != (kk == k) {
				t.Errorf("keyset %v: primitive %v available = %v", k, kk, v)
			}
		}
	}
	if _, err := s.Keyset(ctx, "n", keys.KindUnknown); !errors.Is(err, keys.ErrInvalidKind) {
		t.Errorf("KindUnknown: %v", err)
	}
	for _, bad := range []string{"", "Upper", "a b", "a/b", strings.Repeat("a", 65)} {
		if _, err := s.Keyset(ctx, bad, keys.KindAEAD); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	var zero keys.Keyset
	if _, err := zero.AEAD(); !errors.Is(err, keys.ErrNoPrimaryKey) {
		t.Errorf("zero Keyset AEAD() = %v", err)
	}
	if _, err := keys.NewKeyset("x", keys.KindAEAD, nil); !errors.Is(err, keys.ErrNoPrimaryKey) {
		t.Errorf("NewKeyset(nil) = %v", err)
	}
	daead, _ := s.Keyset(ctx, "n", keys.KindDeterministicAEAD)
	if _, err := keys.NewKeyset("x", keys.KindAEAD, daead.Handle()); err == nil {
		t.Error("NewKeyset accepted a deterministic AEAD handle as AEAD")
	}
}

func TestKeysetStringHidesKeys(t *testing.T) {
	ks, _ := piitest.NewFixedProvider().Keyset(ctx, "x", keys.KindAEAD)
	s := ks.String() + ks.GoString()
	if !strings.Contains(s, "1000000001") || !strings.Contains(s, "Enabled") {
		t.Errorf("String() = %q, want key ID and status", s)
	}
	// The fixed AEAD key is bytes 0x00..0x1f.
	for _, f := range []string{"AAECAwQF", "000102030405", "\x00\x01\x02"} {
		if strings.Contains(s, f) {
			t.Errorf("String() shows key material: %q", s)
		}
	}
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "keysets.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	s, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("OpenFile created the file before any keyset")
	}
	a, err := s.Keyset(ctx, "default", keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keyset file mode = %v, want 0600", st.Mode().Perm())
	}
	k2, _ := s.Rotate(ctx, "default", keys.KindAEAD)
	s.Keyset(ctx, "crm", keys.KindDeterministicAEAD)
	s.Disable(ctx, "default", keys.KindAEAD, a.PrimaryKeyID())

	// Reopen: same keys, same statuses.
	s2, err := keys.OpenFile(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s2.Keyset(ctx, "default", keys.KindAEAD)
	if b.PrimaryKeyID() != k2 {
		t.Errorf("reopened primary = %d, want %d", b.PrimaryKeyID(), k2)
	}
	if st, _ := b.Status(a.PrimaryKeyID()); st != keyset.Disabled {
		t.Errorf("reopened status = %v, want Disabled", st)
	}
	if len(s2.List()) != 2 {
		t.Errorf("reopened store has %d keysets, want 2", len(s2.List()))
	}
	// Values encrypted before reopening decrypt after.
	s.Enable(ctx, "default", keys.KindAEAD, a.PrimaryKeyID())
	s3, _ := keys.OpenFile(path, kek)
	aOld, _ := a.AEAD()
	ct, _ := aOld.Encrypt([]byte("v"), []byte("ad"))
	c, _ := s3.Keyset(ctx, "default", keys.KindAEAD)
	cA, _ := c.AEAD()
	if pt, err := cA.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "v" {
		t.Errorf("decrypt after reopen = %q, %v", pt, err)
	}

	// The file holds no key material in clear.
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("keyValue")) || !bytes.Contains(raw, []byte("encryptedKeyset")) {
		t.Errorf("keyset file is not encrypted:\n%s", raw)
	}

	// A wrong KEK is a clear error and never overwrites the file.
	wrong, _ := keys.NewLocalKEK(newKEK(t))
	if _, err := keys.OpenFile(path, wrong); !errors.Is(err, keys.ErrWrongKEK) {
		t.Errorf("OpenFile(wrong KEK) = %v, want ErrWrongKEK", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(raw, after) {
		t.Error("OpenFile with a wrong KEK changed the file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		if e.Name() != filepath.Base(path)+".lock" {
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 {
		t.Errorf("directory holds %v, want only the keyset file and its lock (no temp files left)", names)
	}
	// A keyset moved to another name does not decrypt (associated data).
	moved := bytes.Replace(raw, []byte(`"crm/daead"`), []byte(`"other/daead"`), 1)
	mpath := filepath.Join(dir, "moved.json")
	os.WriteFile(mpath, moved, 0o600)
	if _, err := keys.OpenFile(mpath, kek); !errors.Is(err, keys.ErrWrongKEK) {
		t.Errorf("OpenFile(renamed keyset) = %v, want ErrWrongKEK", err)
	}
	for name, content := range map[string]string{"empty": "", "garbage": "{", "version": `{"version":9,"keysets":{}}`, "badid": `{"version":1,"keysets":{"x":{}}}`, "trailing": string(raw) + `{"version":1}`} {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := keys.OpenFile(p, kek); err == nil {
			t.Errorf("OpenFile(%s) succeeded", name)
		}
	}
	if _, err := keys.OpenFile(path, nil); !errors.Is(err, keys.ErrInvalidKEK) {
		t.Errorf("OpenFile(nil KEK) = %v", err)
	}
}

// A failed write loses nothing: the store stays as it was.
func TestFileStoreWriteFailure(t *testing.T) {
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
	if _, err := s.Rotate(ctx, "default", keys.KindAEAD); err == nil {
		t.Fatal("Rotate succeeded in a read-only directory")
	}
	b, _ := s.Keyset(ctx, "default", keys.KindAEAD)
	if b != a {
		t.Error("a failed write changed the published keyset")
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	s, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := s.Rotate(ctx, "default", keys.KindAEAD); err != nil {
					t.Error(err)
				}
				if _, err := s.Keyset(ctx, "k"+string(rune('a'+i)), keys.KindPRF); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s2, err := keys.OpenFile(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := s2.Keyset(ctx, "default", keys.KindAEAD)
	if n := len(ks.Keys()); n != 41 {
		t.Errorf("after 40 concurrent rotations: %d keys, want 41: the first key and 40 rotations (none lost)", n)
	}
}

func TestMasterKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	if err := keys.GenerateMasterKeyFile(path); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("master key mode = %v", st.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if err := keys.GenerateMasterKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Generate = %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("GenerateMasterKeyFile overwrote a key")
	}
	kek, err := keys.ReadKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := kek.Encrypt([]byte("x"), nil)
	t.Setenv("TILLID_TEST_MASTER_KEY", string(before))
	envKEK, err := keys.ReadKEKEnv("TILLID_TEST_MASTER_KEY")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := envKEK.Decrypt(ct, nil); err != nil || string(pt) != "x" {
		t.Error("file and environment KEKs differ")
	}
	t.Setenv("TILLID_TEST_BAD", "c2hvcnQ=")
	for _, name := range []string{"TILLID_TEST_UNSET_XYZ", "TILLID_TEST_BAD"} {
		if _, err := keys.ReadKEKEnv(name); !errors.Is(err, keys.ErrInvalidKEK) {
			t.Errorf("ReadKEKEnv(%s) = %v", name, err)
		}
	}
	if _, err := keys.NewLocalKEK(make([]byte, 16)); !errors.Is(err, keys.ErrInvalidKEK) {
		t.Errorf("16-byte master key: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not base64 secret-ish"), 0o600)
	_, err = keys.ReadKEKFile(bad)
	if !errors.Is(err, keys.ErrInvalidKEK) || strings.Contains(err.Error(), "secret-ish") {
		t.Errorf("ReadKEKFile(bad) = %v", err)
	}
	if _, err := keys.ParseMasterKey(strings.TrimSpace(string(before)) + "\n"); err != nil {
		t.Errorf("ParseMasterKey with a trailing newline: %v", err)
	}
}

func TestForKey(t *testing.T) {
	s := keys.NewMemory()
	old, _ := s.Keyset(ctx, "d", keys.KindDeterministicAEAD)
	k1 := old.PrimaryKeyID()
	oldD, _ := old.DeterministicAEAD()
	want, _ := oldD.EncryptDeterministically([]byte("x"), []byte("ad"))
	k2, _ := s.Rotate(ctx, "d", keys.KindDeterministicAEAD)
	cur, _ := s.Keyset(ctx, "d", keys.KindDeterministicAEAD)
	if ids := cur.EnabledKeyIDs(); len(ids) != 2 || ids[0] != k2 || ids[1] != k1 {
		t.Fatalf("EnabledKeyIDs = %v, want [%d %d]", ids, k2, k1)
	}
	one, err := cur.ForKey(k1)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := one.DeterministicAEAD()
	got, _ := d.EncryptDeterministically([]byte("x"), []byte("ad"))
	if !bytes.Equal(got, want) {
		t.Error("ForKey(old).EncryptDeterministically differs from the old primary's ciphertext")
	}
	if again, _ := cur.ForKey(k1); again != one {
		t.Error("ForKey is not cached")
	}
	if p, _ := cur.ForKey(k2); p != cur {
		t.Error("ForKey(primary) is not the keyset itself")
	}
	s.Disable(ctx, "d", keys.KindDeterministicAEAD, k1)
	cur, _ = s.Keyset(ctx, "d", keys.KindDeterministicAEAD)
	if _, err := cur.ForKey(k1); !errors.Is(err, keys.ErrKeyDisabled) {
		t.Errorf("ForKey(disabled) = %v", err)
	}
	if ids := cur.EnabledKeyIDs(); len(ids) != 1 {
		t.Errorf("EnabledKeyIDs after Disable = %v", ids)
	}
	prfKS, _ := s.Keyset(ctx, "p", keys.KindPRF)
	if _, err := prfKS.ForKey(prfKS.PrimaryKeyID()); !errors.Is(err, keys.ErrInvalidKind) {
		t.Errorf("ForKey on a PRF keyset = %v", err)
	}
}

func TestPRFForMatchesTink(t *testing.T) {
	s := keys.NewMemory()
	ks, _ := s.Keyset(ctx, "p", keys.KindPRF)
	set, _ := ks.PRF()
	fast, err := ks.PRFFor(ks.PrimaryKeyID())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint32{1, 16, 32} {
		for _, in := range []string{"", "a", strings.Repeat("x", 200)} {
			want, _ := set.PRFs[ks.PrimaryKeyID()].ComputePRF([]byte(in), n)
			got, err := fast.ComputePRF([]byte(in), n)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("PRFFor(%d bytes of %q) = %x, %v; Tink gives %x", n, in, got, err, want)
			}
		}
	}
	if _, err := fast.ComputePRF(nil, 33); err == nil {
		t.Error("33-byte output accepted")
	}
	if _, err := ks.PRFFor(42); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Errorf("PRFFor(unknown) = %v", err)
	}
	aead, _ := s.Keyset(ctx, "a", keys.KindAEAD)
	if _, err := aead.PRFFor(aead.PrimaryKeyID()); err == nil {
		t.Error("PRFFor on an AEAD keyset succeeded")
	}
}

func TestPlaceholderMasterKeyRefused(t *testing.T) {
	for _, b := range []byte{0x00, 0xff, 0x42} {
		if _, err := keys.NewLocalKEK(bytes.Repeat([]byte{b}, keys.MasterKeySize)); !errors.Is(err, keys.ErrInvalidKEK) {
			t.Errorf("master key of %#x repeated: %v, want ErrInvalidKEK", b, err)
		}
	}
	if _, err := keys.NewLocalKEK(piitest.MasterKey()); err != nil {
		t.Errorf("piitest.MasterKey: %v", err)
	}
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
	path := filepath.Join(t.TempDir(), "keysets.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	app, err := keys.OpenFile(path, kek, keys.WithCreateMissing())
	if err != nil {
		t.Fatal(err)
	}
	pApp, _ := pii.New(app)
	r := fileRecord{ID: "1", Email: "a@example.com"}
	if err := pApp.Protect(ctx, &r); err != nil {
		t.Fatal(err)
	}

	cli, err := keys.OpenFile(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := cli.Rotate(ctx, "default", keys.KindAEAD)
	if err != nil {
		t.Fatal(err)
	}
	pCLI, _ := pii.New(cli)
	if _, err := pCLI.Rewrap(ctx, &r); err != nil {
		t.Fatal(err)
	}

	got := r
	if err := pApp.Reveal(ctx, &got); err != nil || got.Email != "a@example.com" {
		t.Fatalf("application Reveal of a value the CLI rewrapped = %v, %q", err, got.Email)
	}
	// The application creates another keyset: the CLI's rotation survives.
	w := fileRecord{ID: "2", Email: "b@example.com", Billing: "x"}
	if err := pApp.Protect(ctx, &w); err != nil {
		t.Fatal(err)
	}
	reopened, err := keys.OpenFile(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := reopened.Keyset(ctx, "default", keys.KindAEAD)
	if ks.PrimaryKeyID() != newKey || len(ks.Keys()) != 2 {
		t.Fatalf("after the application wrote the file: %v, want primary %d of 2 keys", ks, newKey)
	}
	if len(reopened.List()) != 2 {
		t.Errorf("keysets in the file: %d, want 2", len(reopened.List()))
	}
	// And the application moves to the new primary within a few seconds.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ks, err := app.Keyset(ctx, "default", keys.KindAEAD)
		if err != nil {
			t.Fatal(err)
		}
		if ks.PrimaryKeyID() == newKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the application never saw the CLI's rotation")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestZeroSQLStoreRefused(t *testing.T) {
	var zero keys.SQLStore
	if _, err := zero.Keyset(ctx, "default", keys.KindAEAD); err == nil {
		t.Error("a zero SQLStore served a keyset")
	}
	for name, op := range map[string]func() error{
		"Disable": func() error { return zero.Disable(ctx, "d", keys.KindAEAD, 1) },
		"Enable":  func() error { return zero.Enable(ctx, "d", keys.KindAEAD, 1) },
		"Destroy": func() error { return zero.Destroy(ctx, "d", keys.KindAEAD, 1) },
	} {
		if err := op(); err == nil {
			t.Errorf("%s on a zero SQLStore succeeded", name)
		}
	}
	p, _ := pii.New(&zero)
	if err := p.Protect(ctx, &fileRecord{ID: "1", Email: "a@example.com"}); !errors.Is(err, pii.ErrKeyProvider) {
		t.Errorf("Protect over a zero SQLStore = %v, want ErrKeyProvider", err)
	}
}

// Two processes (here: two stores) changing one keyset file at the same
// time lose nothing: changes take turns under the file lock.
func TestFileStoreConcurrentProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	kek, _ := keys.NewLocalKEK(newKEK(t))
	a, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	b, _ := keys.OpenFile(path, kek, keys.WithCreateMissing())
	if _, err := a.Keyset(ctx, "default", keys.KindAEAD); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 30 {
			if _, err := a.Rotate(ctx, "default", keys.KindAEAD); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 60 {
			if _, err := b.Keyset(ctx, fmt.Sprintf("k%03d", i), keys.KindAEAD); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	c, err := keys.OpenFile(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := c.Keyset(ctx, "default", keys.KindAEAD)
	if n := len(ks.Keys()); n != 31 {
		t.Errorf("default has %d keys after 30 rotations beside another writer, want 31", n)
	}
	if n := len(c.List()); n != 61 {
		t.Errorf("%d keysets, want 61", n)
	}
}
