package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// fileFormatVersion is the version of the keyset file layout.
const fileFormatVersion = 1

// keysetLabel prefixes the associated data under which the KEK encrypts each
// keyset, so that a keyset cannot be moved to another name or kind.
const keysetLabel = "tillid/v1/keyset/"

// maxKeysetFileSize bounds what OpenFile reads, in bytes.
const maxKeysetFileSize = 16 << 20

// keysetFile is the JSON layout of a keyset file. Each entry is a Tink JSON
// encrypted keyset ({"encryptedKeyset": ..., "keysetInfo": ...}); the
// keysetInfo part lists key IDs and statuses in clear, never key material.
type keysetFile struct {
	Version int                        `json:"version"`
	Keysets map[string]json.RawMessage `json:"keysets"`
	// Meta holds, per keyset, key creation times and destroyed key IDs:
	// no key material. Files written before it existed have none.
	Meta map[string]keysetMeta `json:"meta,omitempty"`
}

// OpenFile opens the keyset file at path, decrypting every keyset in it with
// kek, and returns a Store that writes each change back to the file. Each
// keyset is encrypted under kek with the associated data
// "tillid/v1/keyset/<name>/<kind>".
//
// Opening never makes keys unless asked: a missing file is
// [ErrStoreNotFound] (wrapping fs.ErrNotExist), and a keyset the file does
// not hold is [ErrKeysetNotFound] from [Store.Keyset] and [Store.Rotate],
// so that a mistyped path or key name fails at start-up instead of making
// new keys that no other instance has. With [WithCreateMissing] (for
// development, tests and provisioning) a missing file is an empty store,
// written with mode 0600 when the first keyset is made, and keysets are made
// on first use.
//
// Writes are atomic: a temporary file in the same directory
// (".<name>.tmp-*") is written, synced and renamed over path. A process
// killed between the write and the rename leaves its temporary file, a
// complete copy of the keysets; such stale copies are removed under the lock
// when a store is opened and before every write, so that a key destroyed
// with [Store.Destroy] survives in no file of the directory once Destroy
// returns nil. Other processes may change the file too
// (the tillid CLI rotating keys while the application runs): every change
// is built on the file as it is at that moment, so no other process's keys
// are lost, and changes take turns under an advisory lock (flock) on
// path+".lock", a file left beside the keyset file (on systems without
// flock, changes in the same instant can race). The store looks for other
// processes' changes every 2 seconds (a stat) and at once when a value
// names an unknown key ID ([Store.Refresh]). For fleets, use a SQL keyset
// store.
//
// Beside each encrypted keyset the file keeps, in clear, the creation time
// of each key and the IDs of destroyed keys (see [Store.Destroy]); these are
// not secret, and are not authenticated by the KEK.
//
// It returns [ErrWrongKEK] when a keyset does not decrypt under kek (the
// file is never written in that case), and an error for a malformed file.
// Opening reads the file and unwraps its keysets within [FileOpenTimeout]
// (30 seconds); a KEK that has not answered by then fails OpenFile with
// [ErrKMSUnavailable]. Later reads and writes pass the caller's context to
// the KEK: a tink.AEADWithContext gets it, and a plain tink.AEAD, which
// cannot be cancelled, is waited for only until that context ends (its late
// answer is discarded).
// Every keyset written is decrypted again under kek before the file is
// replaced, so a KEK that returns a malformed answer fails the change and
// leaves the file as it was. OpenFile accepts the options [WithAuditor] and
// [WithCreateMissing].
func OpenFile(path string, kek tink.AEAD, opts ...StoreOption) (*Store, error) {
	if kek == nil {
		return nil, fmt.Errorf("keys: nil KEK: %w", ErrInvalidKEK)
	}
	c, err := newLocalStoreConfig(opts)
	if err != nil {
		return nil, err
	}
	fw := &fileWatch{path: path, kek: kek, createMissing: c.createMissing}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !c.createMissing {
		return nil, fmt.Errorf("keys: keyset file %s does not exist (check the path; tillid keys create makes a new one): %w: %w", path, ErrStoreNotFound, fs.ErrNotExist)
	}
	ctx, cancel := context.WithTimeout(context.Background(), FileOpenTimeout)
	defer cancel()
	if err := removeStaleTemps(ctx, path, true); err != nil {
		return nil, err
	}
	sets, _, err := fw.load(ctx, true)
	if err != nil {
		return nil, err
	}
	s := &Store{sets: sets, auditor: c.auditor, file: fw}
	s.persist = func(ctx context.Context, sets map[KeysetID]*Keyset) error {
		b, info, err := writeKeysetFile(ctx, path, kek, sets)
		if err == nil {
			fw.remember(b, info)
		}
		return err
	}
	return s, nil
}

// FileOpenTimeout bounds [OpenFile]'s first read of its file: taking the
// lock and unwrapping every keyset under the KEK.
const FileOpenTimeout = 30 * time.Second

// fileCheckInterval is how often a file store looks at its file for changes
// made by another process (a stat; the file is read only when it changed).
const fileCheckInterval = 2 * time.Second

// fileWatch follows a keyset file that other processes (the tillid CLI, a
// second instance) may rewrite.
type fileWatch struct {
	path string
	kek  tink.AEAD
	// createMissing is WithCreateMissing: keysets are made on first use.
	createMissing bool

	mu        sync.Mutex
	last      []byte       // the content last read or written
	info      os.FileInfo  // of that content: every write renames a new file (a new inode) into place
	nextCheck atomic.Int64 // unix nanoseconds
}

// remember records what this process wrote, with the identity of the file
// it wrote (taken before the rename: by the time the rename is done, another
// process may already have replaced it).
func (fw *fileWatch) remember(b []byte, info os.FileInfo) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.last, fw.info = b, info
	fw.nextCheck.Store(time.Now().Add(fileCheckInterval).UnixNano())
}

// due reports whether the file should be looked at again.
func (fw *fileWatch) due() bool { return time.Now().UnixNano() >= fw.nextCheck.Load() }

// load reads the file when force is set or it changed since it was last
// read or written, and returns its keysets and whether they are new. A
// missing file is an empty store.
func (fw *fileWatch) load(ctx context.Context, force bool) (map[KeysetID]*Keyset, bool, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.nextCheck.Store(time.Now().Add(fileCheckInterval).UnixNano())
	st, err := os.Stat(fw.path)
	if !force && err == nil && fw.info != nil && os.SameFile(st, fw.info) && st.ModTime().Equal(fw.info.ModTime()) && st.Size() == fw.info.Size() {
		return nil, false, nil
	}
	b, err := readLimited(fw.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !force && fw.last != nil {
			return nil, false, fmt.Errorf("keys: keyset file %s has disappeared", fw.path)
		}
		return map[KeysetID]*Keyset{}, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	if !force && bytes.Equal(b, fw.last) {
		fw.info = st
		return nil, false, nil
	}
	sets, err := parseKeysetFile(ctx, fw.path, fw.kek, b)
	if err != nil {
		return nil, false, err
	}
	fw.last = b
	fw.info = st
	return sets, true, nil
}

func parseKeysetFile(ctx context.Context, path string, kek tink.AEAD, b []byte) (map[KeysetID]*Keyset, error) {
	var f keysetFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("keys: keyset file %s is malformed: %v", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("keys: keyset file %s is malformed: data after the keysets", path)
	}
	if f.Version != fileFormatVersion {
		return nil, fmt.Errorf("keys: keyset file %s has version %d, want %d", path, f.Version, fileFormatVersion)
	}
	sets := map[KeysetID]*Keyset{}
	for idStr, raw := range f.Keysets {
		id, err := parseKeysetID(idStr)
		if err != nil {
			return nil, fmt.Errorf("keys: keyset file %s: %v", path, err)
		}
		h, err := unwrapKeyset(ctx, kek, id, raw)
		if err != nil {
			return nil, fmt.Errorf("keys: keyset file %s: %w", path, err)
		}
		ks, err := newKeyset(id.Name, id.Kind, h, f.Meta[idStr])
		if err != nil {
			return nil, err
		}
		sets[id] = ks
	}
	return sets, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxKeysetFileSize {
		return nil, fmt.Errorf("keyset file %s is %d bytes, more than the %d allowed", path, st.Size(), maxKeysetFileSize)
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	if err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

func parseKeysetID(s string) (KeysetID, error) {
	name, kindStr, ok := strings.Cut(s, "/")
	if !ok {
		return KeysetID{}, fmt.Errorf("keyset id %q is not name/kind", s)
	}
	kind, err := ParseKind(kindStr)
	if err != nil {
		return KeysetID{}, err
	}
	if err := validKeyName(name); err != nil {
		return KeysetID{}, err
	}
	return KeysetID{name, kind}, nil
}

func writeKeysetFile(ctx context.Context, path string, kek tink.AEAD, sets map[KeysetID]*Keyset) ([]byte, os.FileInfo, error) {
	f := keysetFile{Version: fileFormatVersion, Keysets: make(map[string]json.RawMessage, len(sets))}
	for id, ks := range sets {
		raw, err := wrapKeyset(ctx, kek, id, ks.handle)
		if err != nil {
			return nil, nil, err
		}
		f.Keysets[id.String()] = raw
		if len(ks.meta.Created) > 0 || len(ks.meta.Destroyed) > 0 {
			if f.Meta == nil {
				f.Meta = map[string]keysetMeta{}
			}
			f.Meta[id.String()] = ks.meta
		}
	}
	out, err := json.MarshalIndent(f, "", "  ")
	out = append(out, '\n')
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %v", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	// The caller holds the file lock: every temporary file is another
	// process's, killed before its rename, and may hold keys since destroyed.
	if err := removeStaleTemps(ctx, path, false); err != nil {
		return nil, nil, err
	}
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return nil, nil, fmt.Errorf("keys: writing keyset file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, nil, fmt.Errorf("keys: writing keyset file: %w", err)
	}
	info, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return nil, nil, fmt.Errorf("keys: writing keyset file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, nil, fmt.Errorf("keys: writing keyset file: %w", err)
	}
	if testHookBeforeRename != nil {
		testHookBeforeRename(tmp.Name())
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, nil, fmt.Errorf("keys: writing keyset file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return out, info, nil
}

// testHookBeforeRename, set by tests only, runs between the write of a
// temporary keyset file and its rename.
var testHookBeforeRename func(tmpPath string)

// tempPattern is the os.CreateTemp pattern of path's temporary files.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// staleTemps lists path's temporary files.
func staleTemps(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	prefix := strings.TrimSuffix(tempPattern(path), "*")
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, filepath.Join(dir, e.Name()))
		}
	}
	return names, nil
}

// removeStaleTemps deletes the temporary files that writers of path left
// when they were killed before renaming them. Each is a full copy of the
// keysets, so one left behind would keep a destroyed key. The caller holds
// the file lock unless lock is set; then it is taken here, and only when
// there is something to remove, so that opening a clean store writes
// nothing. A file that cannot be removed is an error.
func removeStaleTemps(ctx context.Context, path string, lock bool) error {
	stale, err := staleTemps(path)
	if err != nil || len(stale) == 0 {
		return err
	}
	if lock {
		unlock, err := lockFile(ctx, path)
		if err != nil {
			return err
		}
		defer unlock()
		// Under the lock, what is still there is stale: live writers
		// write under it.
		if stale, err = staleTemps(path); err != nil {
			return err
		}
	}
	for _, name := range stale {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keys: removing a stale copy of keyset file %s: %w", path, err)
		}
	}
	return nil
}
