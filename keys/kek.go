package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// MasterKeySize is the size of a local master key, in bytes.
const MasterKeySize = 32

// NewLocalKEK returns a KEK built from a 32-byte master key: Tink AES-256-GCM
// with no output prefix. The bytes are copied. It returns [ErrInvalidKEK] for
// any other length, and for a key that is one byte repeated (all zeros, say),
// which is a placeholder rather than a key. Most users should keep their KEK in a KMS instead; a
// local master key is for a single machine and for development.
func NewLocalKEK(masterKey []byte) (tink.AEAD, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("keys: master key is %d bytes, want %d: %w", len(masterKey), MasterKeySize, ErrInvalidKEK)
	}
	if bytes.Count(masterKey, masterKey[:1]) == MasterKeySize {
		return nil, fmt.Errorf("keys: master key is one byte repeated, not random; make one with GenerateMasterKeyFile: %w", ErrInvalidKEK)
	}
	params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: MasterKeySize,
		IVSizeInBytes:  12,
		TagSizeInBytes: 16,
		Variant:        aesgcm.VariantNoPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("keys: %v", err)
	}
	key, err := aesgcm.NewKey(secretdata.NewBytesFromData(bytes.Clone(masterKey), insecuresecretdataaccess.Token{}), 0, params)
	if err != nil {
		return nil, fmt.Errorf("keys: %v", err)
	}
	return aesgcm.NewAEAD(key)
}

// ParseMasterKey decodes a master key written as standard base64 (44
// characters, surrounding white space ignored) into its 32 bytes. It returns
// [ErrInvalidKEK] for anything else; the error never quotes the input.
func ParseMasterKey(encoded string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil || len(raw) != MasterKeySize {
		return nil, fmt.Errorf("keys: master key must be %d bytes in standard base64: %w", MasterKeySize, ErrInvalidKEK)
	}
	return raw, nil
}

// ReadKEKEnv builds a local KEK from the environment variable name, which
// holds a 32-byte master key in standard base64. It returns [ErrInvalidKEK]
// when the variable is unset or malformed.
func ReadKEKEnv(name string) (tink.AEAD, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return nil, fmt.Errorf("keys: environment variable %s is not set: %w", name, ErrInvalidKEK)
	}
	raw, err := ParseMasterKey(v)
	if err != nil {
		return nil, fmt.Errorf("keys: environment variable %s: %w", name, err)
	}
	return NewLocalKEK(raw)
}

// ReadKEKFile builds a local KEK from a file holding a 32-byte master key in
// standard base64, as written by [GenerateMasterKeyFile]. It returns
// [ErrInvalidKEK] when the file is malformed, and the *fs.PathError when it
// cannot be read.
func ReadKEKFile(path string) (tink.AEAD, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: reading master key: %w", err)
	}
	raw, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("keys: master key file %s: %w", path, err)
	}
	return NewLocalKEK(raw)
}

// GenerateMasterKeyFile writes a new random 32-byte master key, in standard
// base64, to path with mode 0600. It never overwrites: when path exists it
// returns an error wrapping fs.ErrExist and leaves the file alone.
func GenerateMasterKeyFile(path string) error {
	raw := make([]byte, MasterKeySize)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("keys: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("keys: master key file %s already exists: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("keys: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("keys: writing master key: %w", err)
	}
	return nil
}
