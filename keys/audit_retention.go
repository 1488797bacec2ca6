package keys

import "log/slog"

// RetentionCounts are the counts of one retention batch
// ([EventRetentionBatch]): table and rule names and numbers, never values.
type RetentionCounts struct {
	// Table is the table swept.
	Table string
	// Examined is the number of rows the batch examined; Held how many of
	// them were on legal hold and left alone, HoldUnknown how many of those
	// were held because their boolean hold is NULL.
	Examined, Held, HoldUnknown int64
	// Rules holds one entry per rule of the table.
	Rules []RetentionRuleCounts
}

// RetentionRuleCounts are one rule's counts in a retention batch.
type RetentionRuleCounts struct {
	// Rule names the rule (a field path or column) and Then what it does:
	// "redact", "shred" or "delete".
	Rule, Then string
	// Changed counts values cleared, rows deleted or rows shredded;
	// NullAnchors rows whose anchor time is NULL (they never expire);
	// Future rows whose anchor is after the sweep's clock.
	Changed, NullAnchors, Future int64
	// NoSubject counts the due rows a shred rule skipped because their
	// subject ID is NULL, empty or invalid.
	NoSubject int64
	// Tokens counts the vault tokens deleted with the rows a delete rule
	// deleted.
	Tokens int64
}

// attrs returns c as log attributes; none for a nil c.
func (c *RetentionCounts) attrs() []slog.Attr {
	if c == nil {
		return nil
	}
	out := []slog.Attr{slog.String("table", c.Table), slog.Int64("examined", c.Examined), slog.Int64("held", c.Held), slog.Int64("hold_unknown", c.HoldUnknown)}
	for _, r := range c.Rules {
		out = append(out, slog.Group(r.Rule, slog.String("then", r.Then), slog.Int64("changed", r.Changed),
			slog.Int64("null_anchors", r.NullAnchors), slog.Int64("future", r.Future), slog.Int64("tokens", r.Tokens), slog.Int64("no_subject", r.NoSubject)))
	}
	return out
}
