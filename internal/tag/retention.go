package tag

import "slices"

// HoldAction is the action of a legal-hold field: `pii:"hold"` on a bool,
// *time.Time or sql.NullTime. A row held (true, or a time set) is never
// expired by any retention rule. It takes no value and no option.
const HoldAction = "hold"

// thens are the values of then=, what happens when retain= runs out:
// redact clears the field, shred withdraws the subject's key for the
// field's purpose, delete removes the whole row (struct-level only).
var thens = []string{"redact", "shred", "delete"}

// Thens returns the values then= accepts, as a fresh slice.
func Thens() []string { return slices.Clone(thens) }
