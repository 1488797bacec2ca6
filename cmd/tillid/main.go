// Command tillid is the operator's tool for tillid keys: it creates,
// rotates, lists, enables, disables and destroys keys in a keyset file or a
// SQL keyset store, rewraps the protected columns of a table under the
// current primary keys, and pseudonymises CSV and JSON Lines exports.
//
// Usage:
//
//	tillid keys create|rotate|list|enable|disable|destroy [flags] ...
//	tillid rewrap [flags]
//	tillid vault rewrap [flags] DOMAIN...
//	tillid forget|withdraw [flags] SUBJECT...
//	tillid erasures [flags]
//	tillid pseudonymise [flags] -column NAME=ACTION ...
//
// Run "tillid help", "tillid keys -h", "tillid rewrap -h",
// "tillid vault rewrap -h" or "tillid pseudonymise -h" for the flags.
//
// The key-encryption key (KEK) comes from a KMS key URI (-kek-uri), a
// master key file (-master-key-file) or an environment variable holding a
// master key (-master-key-env, TILLID_MASTER_KEY by default); never from a
// flag's value.
//
// Exit codes:
//
//	0  success
//	1  the operation failed (storage, database, a wrong KEK, ...)
//	2  usage: unknown command, bad flag or argument
//	3  a key or keyset was not found (or is destroyed)
//	4  the KMS holding the KEK was unreachable or did not answer in time
//	5  rewrap finished, but some values could not be rewrapped (see the log)
//	6  the KMS refused the credentials or permissions (fix the IAM policy or credential)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tillid/tillid/keys"
)

// Exit codes; see the package doc.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitKMS         = 4
	exitRewrapSkips = 5
	exitKMSDenied   = 6
)

const usage = `tillid manages tillid keys and rewraps stored data.

Usage:
  tillid keys create   [flags] NAME            create keyset NAME with one primary key
  tillid keys rotate   [flags] NAME            add a key to NAME and make it primary
  tillid keys list     [flags]                 list keysets and their keys (-json for JSON)
  tillid keys enable   [flags] NAME KEY_ID     enable a disabled key again
  tillid keys disable  [flags] NAME KEY_ID     disable a key: values under it stop revealing
  tillid keys destroy  [flags] -yes NAME KEY_ID destroy a disabled key's material, for ever
  tillid keys import   [flags] -in FILE NAME   import a Tink keyset (encrypted, or plain Tink's)
  tillid keys export   [flags] -out FILE NAME  export a keyset re-wrapped under another KEK
  tillid rewrap        [flags]                 re-encrypt a table's protected columns under
                                               the primary keys, batched and resumable
  tillid vault rewrap  [flags] DOMAIN...       re-encrypt the token vault's values of DOMAIN
                                               under the primary keys, batched and resumable
  tillid vet           [flags] [packages]      report untagged personal data, bad tags, unsafe logs
  tillid inventory     [flags] [packages]      render the Art. 30 record of processing from source
  tillid retention sweep|report [flags]        apply a table's retention rules, or report them
  tillid forget        [flags] SUBJECT...      erase data subjects: destroy their subject keys,
                                               clear or delete their rows, print receipts
  tillid withdraw      [flags] -purpose P SUBJECT... destroy the subjects' keys of one purpose
  tillid erasures      [flags]                 list the erasure ledger; -reapply after a restore
  tillid pseudonymise  [flags] -column N=A ... pseudonymise a CSV or JSON Lines export, streaming

Run "tillid keys -h", "tillid rewrap -h", "tillid vault rewrap -h" or
"tillid pseudonymise -h" for flags.

The KEK comes from -kek-uri (aws-kms://, gcp-kms://, hcvault://), from
-master-key-file, or from the environment variable named by -master-key-env
(TILLID_MASTER_KEY by default): never from a flag's value.

Exit codes: 0 success, 1 failure, 2 usage, 3 key not found or destroyed,
4 KMS unreachable, 5 rewrap left values it could not rewrap, 6 KMS access
denied (credentials or permissions).
`

func main() {
	if isVetTool(os.Args[1:]) {
		runVetTool() // go vet -vettool=$(command -v tillid); see vet.go
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "keys":
		return runKeys(ctx, args[1:], stdout, stderr)
	case "rewrap":
		return runRewrap(ctx, args[1:], stdout, stderr)
	case "vault":
		return runVault(ctx, args[1:], stdout, stderr)
	case "vet":
		return runVet(ctx, args[1:], stdout, stderr)
	case "inventory":
		return runInventory(ctx, args[1:], stdout, stderr)
	case "retention":
		return runRetention(ctx, args[1:], stdout, stderr)
	case "forget", "withdraw":
		return runForget(ctx, args[1:], args[0] == "withdraw", stdout, stderr)
	case "erasures":
		return runErasures(ctx, args[1:], stdout, stderr)
	case "pseudonymise", "pseudonymize":
		return runPseudonymise(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "tillid: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitCode maps an error to the documented exit codes and prints it.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "tillid:", err)
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp):
		return exitUsage
	case errors.Is(err, keys.ErrKMSAccessDenied):
		return exitKMSDenied
	case errors.Is(err, keys.ErrKMSUnavailable), errors.Is(err, context.DeadlineExceeded):
		return exitKMS
	case errors.Is(err, keys.ErrKeyNotFound), errors.Is(err, keys.ErrKeyDestroyed):
		return exitNotFound
	default:
		return exitFailure
	}
}
