//go:build !unix

package keys

import "context"

// lockFile does nothing where flock is not available: changes from two
// processes in the same instant can race there, as OpenFile's doc says, and
// a store that opens or writes while another process is between its write
// and its rename removes that process's temporary file, whose rename then
// fails with an error (its change is lost, and reported as lost).
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
