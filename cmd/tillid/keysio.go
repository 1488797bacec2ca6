package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/keys/insecurecleartext"
)

// ioOpts are the flags of keys import and keys export: the keyset file and
// the KEK it is (or is to be) encrypted under, which is not the store's.
type ioOpts struct {
	in, out               string
	fromKEKURI, fromKEK   string
	toKEKURI, toKEK       string
	associatedData        string
	insecureCleartextFrom bool
}

// fileKEK opens the KEK of a keyset file given by uri or a master key
// file, one of which must be set; flag names the flags for errors.
func fileKEK(ctx context.Context, sf *storeFlags, uri, masterKeyFile, flag string) (tink.AEAD, func(), error) {
	if (uri == "") == (masterKeyFile == "") {
		return nil, nil, usagef("give the KEK of the keyset file: one of -%s-kek-uri or -%s-master-key-file", flag, flag)
	}
	other := storeFlags{kekURI: uri, masterKeyFile: masterKeyFile, kmsEndpoint: sf.kmsEndpoint}
	return other.kek(ctx)
}

// importKeyset reads the Tink keyset o.in (JSON or binary, as
// keyset.Handle.Write writes it, encrypted under the -from KEK; or a
// cleartext JSON keyset with -insecure-cleartext-from) and imports it into
// s as name/kind.
func importKeyset(ctx context.Context, sf *storeFlags, o *keysOpts, s keys.Manager, name string, kind keys.Kind, stdout io.Writer) error {
	if o.io.in == "" {
		return usagef("keys import needs -in FILE, the Tink keyset to import")
	}
	if o.io.toKEKURI != "" || o.io.toKEK != "" || o.io.out != "" {
		return usagef("-out, -to-kek-uri and -to-master-key-file are flags of keys export")
	}
	b, err := os.ReadFile(o.io.in)
	if err != nil {
		return fmt.Errorf("reading the keyset to import: %w", err)
	}
	if len(b) > keys.MaxKeysetSize {
		return fmt.Errorf("%s is %d bytes, more than a keyset (%d)", o.io.in, len(b), keys.MaxKeysetSize)
	}
	var h *keyset.Handle
	if o.io.insecureCleartextFrom {
		if o.io.fromKEKURI != "" || o.io.fromKEK != "" || o.io.associatedData != "" {
			return usagef("-insecure-cleartext-from reads a keyset in clear: give no -from KEK and no -associated-data")
		}
		if h, err = insecurecleartext.Read(b); err != nil {
			return err
		}
	} else {
		kek, closeKEK, err := fileKEK(ctx, sf, o.io.fromKEKURI, o.io.fromKEK, "from")
		if err != nil {
			return err
		}
		defer closeKEK()
		var r keyset.Reader = keyset.NewBinaryReader(bytes.NewReader(b))
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
			r = keyset.NewJSONReader(bytes.NewReader(b))
		}
		ad := []byte(o.io.associatedData)
		if kc, ok := kek.(tink.AEADWithContext); ok {
			h, err = keyset.ReadWithContext(ctx, r, kc, ad)
		} else {
			h, err = keyset.ReadWithAssociatedData(r, kek, ad)
		}
		if err != nil {
			// Tink's message holds no key bytes; it may say "decryption failed".
			return fmt.Errorf("reading %s as a Tink keyset encrypted under the -from KEK (with -associated-data %q): %v", o.io.in, o.io.associatedData, err)
		}
	}
	ks, err := s.Import(ctx, name, kind, h)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported keyset %s/%s from %s: %d keys, primary key %d\n", name, kind, o.io.in, len(ks.Keys()), ks.PrimaryKeyID())
	return nil
}

// exportKeyset writes keyset name/kind of s to o.out (or standard output
// for "-") as a Tink JSON encrypted keyset under the -to KEK. A file is
// created with mode 0600 and never overwritten.
func exportKeyset(ctx context.Context, sf *storeFlags, o *keysOpts, s keys.Manager, name string, kind keys.Kind, stdout io.Writer) error {
	if o.io.out == "" {
		return usagef("keys export needs -out FILE (or -out - for standard output)")
	}
	if o.io.in != "" || o.io.fromKEKURI != "" || o.io.fromKEK != "" || o.io.insecureCleartextFrom {
		return usagef("-in, -from-kek-uri, -from-master-key-file and -insecure-cleartext-from are flags of keys import")
	}
	kek, closeKEK, err := fileKEK(ctx, sf, o.io.toKEKURI, o.io.toKEK, "to")
	if err != nil {
		return err
	}
	defer closeKEK()
	var f *os.File
	if o.io.out != "-" {
		f, err = os.OpenFile(o.io.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already; an export never overwrites a file", o.io.out)
		}
		if err != nil {
			return fmt.Errorf("creating the export: %w", err)
		}
	}
	b, err := s.Export(ctx, name, kind, kek, []byte(o.io.associatedData))
	if err == nil && f != nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(o.io.out)
		}
		return err
	}
	if f == nil {
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	fmt.Fprintf(stdout, "exported keyset %s/%s to %s, encrypted under the -to KEK; destroyed keys are not in it\n", name, kind, o.io.out)
	return nil
}
