package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/internal/pgtest"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/piitest"
)

// kekFile writes a new master key file and returns its path and KEK.
func kekFile(t *testing.T, name string) (string, tink.AEAD) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, keys.GenerateMasterKeyFile(path))
	kek, err := keys.ReadKEKFile(path)
	require.NoError(t, err)
	return path, kek
}

// keysetOf reads keyset name/kind from the store the flags name, as the
// application would.
func keysetOf(t *testing.T, store, loc, name string) *keys.Keyset {
	t.Helper()
	sf := storeFlags{masterKeyEnv: "TILLID_MASTER_KEY"}
	if store == "-keyset-file" {
		sf.keysetFile = loc
	} else {
		sf.keysetDB = loc
	}
	s, closeFn, err := sf.open(ctx, io.Discard, false)
	require.NoError(t, err)
	defer closeFn()
	ks, err := s.Keyset(ctx, name, keys.KindAEAD)
	require.NoError(t, err)
	return ks
}

// tillid keys import takes a plain-Tink keyset (encrypted under its KEK,
// JSON or binary, or in clear through the insecure flag) into every kind
// of store, and its values read; tillid keys export re-wraps a keyset under
// another KEK, plain Tink reads it, the destroyed key is not in it, and the
// export is audited.
func TestKeysImportExport(t *testing.T) {
	for _, tc := range []struct{ name, store string }{{"file", "-keyset-file"}, {"sqlite", "-keyset-db"}, {"postgres", "-keyset-db"}} {
		t.Run(tc.name, func(t *testing.T) {
			masterKey(t)
			loc := map[string]string{
				"file":     filepath.Join(t.TempDir(), "keysets.json"),
				"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "keys.db"),
				"postgres": "",
			}[tc.name]
			if tc.name == "postgres" {
				loc = pgtest.DSN(t)
			}
			k := func(args ...string) (int, string, string) {
				return cli(t, append([]string{"keys", args[0], tc.store, loc}, args[1:]...)...)
			}
			// The plain-Tink deployment: key A, then key B primary, its
			// keyset encrypted under its own KEK.
			pt := piitest.NewPlainTink(t)
			h, keyA, keyB, ctA, ctB := pt.Handle, pt.First, pt.Primary, pt.UnderFirst, pt.UnderPrimary
			oldKEKPath, oldKEK := kekFile(t, "old.key")
			var enc bytes.Buffer
			require.NoError(t, h.Write(keyset.NewJSONWriter(&enc), oldKEK))
			legacy := filepath.Join(t.TempDir(), "legacy.json")
			require.NoError(t, os.WriteFile(legacy, enc.Bytes(), 0o600))

			code, out, errS := k("import", "-in", legacy, "-from-master-key-file", oldKEKPath, "legacy")
			require.Equal(t, exitOK, code, "import = %d\n%s%s", code, out, errS)
			assert.Contains(t, out, "imported keyset legacy/aead from "+legacy+": 2 keys, primary key "+strconv.FormatUint(uint64(keyB), 10))
			code, _, errS = k("import", "-in", legacy, "-from-master-key-file", oldKEKPath, "legacy")
			assert.Equal(t, exitFailure, code, "a second import of the name = %d\n%s", code, errS)
			assert.Contains(t, errS, "already exists")
			code, _, errS = k("import", "-in", legacy, "-from-master-key-file", kekPathOnly(t), "other")
			assert.Equal(t, exitFailure, code, "import under the wrong KEK = %d\n%s", code, errS)

			ks := keysetOf(t, tc.store, loc, "legacy")
			for ct, want := range map[*[]byte]string{&ctA: "under first", &ctB: "under primary"} {
				a, err := ks.AEAD()
				require.NoError(t, err)
				pt, err := a.Decrypt(*ct, []byte(piitest.PlainTinkAD))
				require.NoError(t, err, "a value plain Tink made does not decrypt after the import")
				assert.Equal(t, want, string(pt))
			}

			// Binary, and in clear through the insecure flag.
			var bin, clear bytes.Buffer
			require.NoError(t, h.Write(keyset.NewBinaryWriter(&bin), oldKEK))
			require.NoError(t, insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&clear)))
			binPath, clearPath := filepath.Join(t.TempDir(), "legacy.bin"), filepath.Join(t.TempDir(), "clear.json")
			require.NoError(t, os.WriteFile(binPath, bin.Bytes(), 0o600))
			require.NoError(t, os.WriteFile(clearPath, clear.Bytes(), 0o600))
			code, out, errS = k("import", "-in", binPath, "-from-master-key-file", oldKEKPath, "legacy-bin")
			assert.Equal(t, exitOK, code, "binary import = %d\n%s%s", code, out, errS)
			code, _, errS = k("import", "-in", clearPath, "legacy-clear")
			assert.Equal(t, exitUsage, code, "a cleartext keyset without the insecure flag = %d\n%s", code, errS)
			code, out, errS = k("import", "-in", clearPath, "-insecure-cleartext-from", "legacy-clear")
			assert.Equal(t, exitOK, code, "cleartext import = %d\n%s%s", code, out, errS)

			// Retire A, then export under an escrow KEK.
			code, out, errS = k("rotate", "legacy")
			require.Equal(t, exitOK, code, "rotate: %s", errS)
			keyC := keyIDOf(t, strings.TrimPrefix(out, "rotated keyset legacy/aead (kind aead only): new primary "))
			for _, step := range [][]string{{"disable", "legacy", strconv.FormatUint(uint64(keyA), 10)}, {"destroy", "-yes", "legacy", strconv.FormatUint(uint64(keyA), 10)}} {
				code, _, errS := k(step...)
				require.Equal(t, exitOK, code, "%v: %s", step, errS)
			}
			ks = keysetOf(t, tc.store, loc, "legacy")
			ctC := sealWith(t, ks, "under C")

			escrowPath, escrow := kekFile(t, "escrow.key")
			outPath := filepath.Join(t.TempDir(), "escrow.json")
			code, out, errS = k("export", "-audit", "-out", outPath, "-to-master-key-file", escrowPath, "-associated-data", "escrow 2026", "legacy")
			require.Equal(t, exitOK, code, "export = %d\n%s%s", code, out, errS)
			assert.Contains(t, out, "exported keyset legacy/aead to "+outPath)
			assert.Contains(t, errS, `"event":"keyset.exported"`, "-audit reports the export")
			st, err := os.Stat(outPath)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the export's mode")
			b, err := os.ReadFile(outPath)
			require.NoError(t, err)
			back, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(b)), escrow, []byte("escrow 2026"))
			require.NoError(t, err, "plain Tink does not read the export")
			var ids []string
			for _, ki := range back.KeysetInfo().GetKeyInfo() {
				ids = append(ids, strconv.FormatUint(uint64(ki.GetKeyId()), 10)+":"+ki.GetStatus().String())
			}
			assert.ElementsMatch(t, []string{strconv.FormatUint(uint64(keyB), 10) + ":ENABLED", keyC + ":ENABLED"}, ids, "the export holds the live keys only, not the destroyed key %d", keyA)
			plain, err := aead.New(back)
			require.NoError(t, err)
			for ct, want := range map[*[]byte]string{&ctB: "under primary", &ctC: "under C"} {
				pt, err := plain.Decrypt(*ct, []byte(piitest.PlainTinkAD))
				require.NoError(t, err, "the export does not decrypt %q", want)
				assert.Equal(t, want, string(pt))
			}
			_, err = plain.Decrypt(ctA, []byte(piitest.PlainTinkAD))
			assert.Error(t, err, "the export decrypts a value under the destroyed key")

			code, _, errS = k("export", "-out", outPath, "-to-master-key-file", escrowPath, "legacy")
			assert.Equal(t, exitFailure, code, "an export over an existing file = %d\n%s", code, errS)
			assert.Contains(t, errS, "never overwrites")
			after, err := os.ReadFile(outPath)
			require.NoError(t, err)
			assert.Equal(t, b, after, "a refused export changed the file")
			code, _, errS = k("export", "-out", filepath.Join(t.TempDir(), "x.json"), "legacy")
			assert.Equal(t, exitUsage, code, "an export without a -to KEK = %d\n%s", code, errS)
			code, _, errS = k("export", "-out", filepath.Join(t.TempDir(), "y.json"), "-to-master-key-file", escrowPath, "nope")
			assert.Equal(t, exitNotFound, code, "an export of a missing keyset = %d\n%s", code, errS)
		})
	}
}

// kekPathOnly is the path of a new master key file.
func kekPathOnly(t *testing.T) string {
	p, _ := kekFile(t, "wrong.key")
	return p
}

// sealWith encrypts pt under ks's primary.
func sealWith(t *testing.T, ks *keys.Keyset, pt string) []byte {
	t.Helper()
	a, err := ks.AEAD()
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte(pt), []byte(piitest.PlainTinkAD))
	require.NoError(t, err)
	return ct
}
