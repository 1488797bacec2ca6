//go:build !unix

package keys

import "context"

// lockFile does nothing where flock is not available: changes from two
// processes in the same instant can race there, as OpenFile's doc says.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
