package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tillid/tillid/keys"
)

const keysUsage = `Usage:
  tillid keys create   [flags] NAME
  tillid keys rotate   [flags] NAME
  tillid keys list     [flags] [-json]
  tillid keys enable   [flags] NAME KEY_ID
  tillid keys disable  [flags] NAME KEY_ID
  tillid keys destroy  [flags] -yes NAME KEY_ID
  tillid keys import   [flags] -in FILE (-from-kek-uri URI | -from-master-key-file PATH | -insecure-cleartext-from) NAME
  tillid keys export   [flags] -out FILE (-to-kek-uri URI | -to-master-key-file PATH) NAME

Rotate rotates one keyset: NAME of the -kind given (aead unless set), and
names the other kinds of NAME it left alone. A key name used by several
kinds (a tokenizer's aead and prf, a field's aead and daead) is rotated
with one call per kind, so that each kind's rewrap is planned on its own.

Lifecycle of a key: create (or rotate) makes it the primary; after a rotation
old keys keep revealing; rewrap moves stored values to the primary; disable
stops an old key (enable undoes it); destroy deletes a disabled key's
material for ever (crypto-shredding): values under it become unrecoverable.

Import stores a Tink keyset as keyset NAME of the -kind given: a plain-Tink
deployment's keyset, JSON or binary as keyset.Handle.Write wrote it,
encrypted under its own KEK (-from-kek-uri, -from-master-key-file), so that
its values keep reading; or, with -insecure-cleartext-from, a cleartext
JSON keyset (insecurecleartextkeyset). It refuses a NAME the store holds.
Export writes keyset NAME as a Tink JSON encrypted keyset under another KEK
(-to-kek-uri, -to-master-key-file), for escrow or a move to another store:
plain Tink reads it with keyset.Read (keyset.ReadWithAssociatedData with
-associated-data), and keys import takes it. Destroyed keys are not in it,
and there is no cleartext export. Both send an audit event (-audit).

Examples:
  TILLID_MASTER_KEY=... tillid keys rotate -keyset-file keysets.json default
  tillid keys list -keyset-db postgres://app@db/app -kek-uri aws-kms://arn:aws:kms:eu-west-1:111122223333:key/... -json
  tillid keys destroy -keyset-db sqlite:keys.db -master-key-file master.key -yes default 1234567
  tillid keys import -keyset-db postgres://app@db/app -kek-uri aws-kms://... -in legacy.json -from-master-key-file old.key legacy
  tillid keys export -keyset-db postgres://app@db/app -kek-uri aws-kms://... -out escrow.json -to-kek-uri gcp-kms://... default

Flags:
`

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fs := keysFlagSet(new(storeFlags), new(keysOpts), stderr)
		fmt.Fprint(stdout, keysUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub := args[0]
	var sf storeFlags
	var o keysOpts
	fs := keysFlagSet(&sf, &o, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	return exitCode(stderr, keysCommand(ctx, sub, fs.Args(), &sf, &o, stdout, stderr))
}

type keysOpts struct {
	kind string
	json bool
	yes  bool
	io   ioOpts
}

func keysFlagSet(sf *storeFlags, o *keysOpts, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tillid keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), keysUsage); fs.PrintDefaults() }
	sf.register(fs)
	fs.StringVar(&o.kind, "kind", "aead", "keyset `kind`: aead (encrypt), daead (deterministic) or prf (blind indexes)")
	fs.BoolVar(&o.json, "json", false, "list: print JSON instead of a table")
	fs.BoolVar(&o.yes, "yes", false, "destroy: confirm that the key's values become unrecoverable")
	fs.StringVar(&o.io.in, "in", "", "import: the Tink keyset `file` to import")
	fs.StringVar(&o.io.fromKEKURI, "from-kek-uri", "", "import: the `URI` of the KMS key the keyset file is encrypted under")
	fs.StringVar(&o.io.fromKEK, "from-master-key-file", "", "import: the master key `file` (32 bytes, base64) the keyset file is encrypted under")
	fs.BoolVar(&o.io.insecureCleartextFrom, "insecure-cleartext-from", false, "import: the keyset file holds its keys in clear (Tink insecurecleartextkeyset JSON)")
	fs.StringVar(&o.io.out, "out", "", "export: the `file` to create (mode 0600; never overwritten), or - for standard output")
	fs.StringVar(&o.io.toKEKURI, "to-kek-uri", "", "export: the `URI` of the KMS key to encrypt the export under")
	fs.StringVar(&o.io.toKEK, "to-master-key-file", "", "export: the master key `file` to encrypt the export under")
	fs.StringVar(&o.io.associatedData, "associated-data", "", "import, export: the keyset file's associated `data` (Tink ReadWithAssociatedData)")
	return fs
}

func keysCommand(ctx context.Context, sub string, args []string, sf *storeFlags, o *keysOpts, stdout, stderr io.Writer) error {
	want := map[string]int{"create": 1, "rotate": 1, "list": 0, "enable": 2, "disable": 2, "destroy": 2, "import": 1, "export": 1}
	n, ok := want[sub]
	if !ok {
		return usagef("unknown keys command %q; want create, rotate, list, enable, disable, destroy, import or export", sub)
	}
	if len(args) != n {
		return usagef("keys %s takes %d argument(s), got %d: %q", sub, n, len(args), args)
	}
	kind, err := keys.ParseKind(o.kind)
	if err != nil {
		return usagef("-kind %q: want aead, daead or prf", o.kind)
	}
	if n > 0 {
		if err := keys.CheckKeyName(args[0]); err != nil {
			return usagef("keyset NAME %q: names are 1 to 64 characters of a-z, 0-9, '_', '.' and '-'", args[0])
		}
	}
	var keyID uint32
	if n == 2 {
		v, err := strconv.ParseUint(args[1], 10, 32)
		if err != nil {
			return usagef("KEY_ID %q is not a key ID (a decimal number from tillid keys list)", args[1])
		}
		keyID = uint32(v)
	}
	if sub == "destroy" && !o.yes {
		return usagef("destroy deletes key %d's material for ever and its values become unrecoverable; add -yes to confirm", keyID)
	}
	c, cancel := context.WithTimeout(ctx, sf.timeout)
	defer cancel()
	// Import is an explicit creation, like create: it may start a new
	// key store for a team moving from plain Tink.
	s, closeFn, err := sf.open(c, stderr, sub == "create" || sub == "import")
	if err != nil {
		return err
	}
	defer closeFn()
	switch sub {
	case "create":
		list, err := s.List(c)
		if err != nil {
			return err
		}
		for _, ks := range list {
			if ks.Name() == args[0] && ks.Kind() == kind {
				return fmt.Errorf("keyset %s/%s already exists (primary key %d); use rotate to add a key", args[0], kind, ks.PrimaryKeyID())
			}
		}
		ks, err := s.Keyset(c, args[0], kind)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created keyset %s/%s with primary key %d\n", args[0], kind, ks.PrimaryKeyID())
	case "rotate":
		id, err := s.Rotate(c, args[0], kind)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rotated keyset %s/%s (kind %s only): new primary key %d\n", args[0], kind, kind, id)
		return notRotated(c, s, args[0], kind, stdout)
	case "enable", "disable", "destroy":
		if err := existing(c, s, args[0], kind); err != nil {
			return err
		}
		switch sub {
		case "enable":
			err = s.Enable(c, args[0], kind, keyID)
		case "disable":
			err = s.Disable(c, args[0], kind, keyID)
		default:
			err = s.Destroy(c, args[0], kind, keyID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd key %d of keyset %s/%s\n", map[string]string{"enable": "enable", "disable": "disable", "destroy": "destroye"}[sub], keyID, args[0], kind)
	case "import":
		return importKeyset(c, sf, o, s, args[0], kind, stdout)
	case "export":
		return exportKeyset(c, sf, o, s, args[0], kind, stdout)
	case "list":
		list, err := s.List(c)
		if err != nil {
			return err
		}
		return printList(stdout, list, o.json)
	}
	return nil
}

// notRotated names the other kinds of keyset name, which rotate (one kind
// per call, -kind) left alone, and the commands that rotate them.
func notRotated(ctx context.Context, s keys.Manager, name string, rotated keys.Kind, w io.Writer) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, ks := range list {
		if ks.Name() == name && ks.Kind() != rotated {
			fmt.Fprintf(w, "not rotated: keyset %s/%s (primary key %d); rotate it with: tillid keys rotate -kind %s ... %s\n", name, ks.Kind(), ks.PrimaryKeyID(), ks.Kind(), name)
		}
	}
	return nil
}

// existing checks that keyset name/kind exists, so that a typo does not
// create one.
func existing(ctx context.Context, s keys.Manager, name string, kind keys.Kind) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, ks := range list {
		if ks.Name() == name && ks.Kind() == kind {
			return nil
		}
	}
	return fmt.Errorf("keyset %s/%s does not exist: %w", name, kind, keys.ErrKeyNotFound)
}

// listedKey is one row of "keys list", and its JSON form.
type listedKey struct {
	Keyset    string     `json:"keyset"`
	Kind      string     `json:"kind"`
	KeyID     uint32     `json:"key_id"`
	Status    string     `json:"status"`
	Primary   bool       `json:"primary"`
	Created   *time.Time `json:"created,omitempty"`
	Destroyed *time.Time `json:"destroyed,omitempty"`
}

func printList(w io.Writer, list []*keys.Keyset, asJSON bool) error {
	rows := []listedKey{}
	for _, ks := range list {
		for _, k := range ks.Keys() {
			r := listedKey{Keyset: ks.Name(), Kind: ks.Kind().String(), KeyID: k.KeyID, Status: k.Status.String(), Primary: k.Primary}
			if !k.Created.IsZero() {
				t := k.Created.UTC()
				r.Created = &t
			}
			if !k.Destroyed.IsZero() {
				t := k.Destroyed.UTC()
				r.Destroyed = &t
			}
			rows = append(rows, r)
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEYSET\tKIND\tKEY ID\tSTATUS\tPRIMARY\tCREATED")
	for _, r := range rows {
		created := "-"
		if r.Created != nil {
			created = r.Created.Format(time.RFC3339)
		}
		primary := ""
		if r.Primary {
			primary = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Keyset, r.Kind, r.KeyID, r.Status, primary, created)
	}
	return tw.Flush()
}
