// Package retention removes personal data whose time is up: it applies the
// retention rules of a table (retain=, from=, then= on a tagged Go type, or
// rules written by hand) to a SQLite or PostgreSQL table over database/sql,
// in batches of one transaction each, resumable after a crash, safe beside
// the running application, and shared by several workers on PostgreSQL.
//
// Most users call [ForType] to describe the table from its Go type, then
// [New] and [Sweeper.Sweep] once, or [Sweeper.Run] on a schedule; [Report]
// says what a sweep would do without changing anything. The package imports
// no SQL driver: pass a *sql.DB opened with one (modernc.org/sqlite, pgx's
// stdlib).
//
// # How a sweep works
//
// A sweep walks the table in key order (one integer, text or uuid key
// column, or SQLite's rowid), in batches of [WithBatchSize] keys. A worker
// claims a batch in a short transaction (a lease in <prefix>_leases, the
// cursor in <prefix>_runs; on PostgreSQL found without locking the run and
// taken by compare-and-set), then does it in one transaction: it counts the
// rows examined, held, with a NULL anchor and with a future anchor, shreds,
// clears (on PostgreSQL every redact rule in one statement) and deletes
// (with the vault tokens of the deleted rows, [WithTokenizers]) with
// statements whose WHERE clause repeats each rule's whole condition (not
// held, anchor at most now - retain, a value still set), drops the lease and
// commits. A row the application changed since the batch began is judged
// on its new values; a row never changes twice.
//
// A crash, a Ctrl-C or a database outage leaves the cursor and at most one
// lease per worker: the next Sweep resumes there, taking over the leases of
// dead workers when they run out ([WithLease]) and its own at once
// ([WithWorker]). Nothing is lost, and nothing is done twice: a batch's
// changes and the removal of its lease commit together. A worker that runs
// out of free ranges while others still lease some waits for them
// ([WithPoll], [WithNoWait]), so that every worker of a run returns once
// the run is complete.
//
// # Time
//
// A rule's cutoff is the Sweeper's clock ([WithClock]) minus Retain, read
// once per batch and compared as an instant: PostgreSQL timestamptz values
// as they are, timestamp values as UTC, date values as midnight UTC (any
// other column type is refused: PostgreSQL would compare text as text);
// SQLite text in the forms listed below, through julianday(), which
// honours offsets ("+02:00", "Z"), to the millisecond. A clock that jumps
// forward expires more rows sooner (never rows that are not due by the
// clock's time); a clock that jumps back expires fewer until it catches
// up. A row without an anchor never expires and is counted in
// [RuleStats.NullAnchors]: NULL, Go's zero time (0001-01-01 00:00:00
// UTC, what an unset time.Time is stored as), an infinite PostgreSQL
// timestamp, and on SQLite any value in none of these forms:
//
//	YYYY-MM-DD                                  midnight UTC
//	YYYY-MM-DD HH:MM[:SS[.fff…]][±HH:MM|Z]      'T' or ' ' after the date; UTC without an offset
//	YYYY-MM-DD HH:MM:SS[.fff…] ±hhmm ZONE       Go's time.Time.String (modernc.org/sqlite's default)
//
// with a date that is in the calendar (not '2026-02-30'). So
// '11/30/2026', '1 Dec 2025', 'now', '12:00', a number (a Julian day, a
// Unix time) are no anchor on SQLite, as text is refused on PostgreSQL.
// An anchor in the future is not expired and is counted in
// [RuleStats.Future].
//
// # Legal holds
//
// A table's [Hold] column stops every rule for the rows it holds: a
// boolean that is not false, or a non-NULL timestamp. A NULL boolean holds
// too, counted apart ([Stats.HoldUnknown], "hold unknown"): a hold column
// just added, or a row nobody decided, is not taken for "no hold". Held
// rows are counted ([Stats.Held]) and never touched.
//
// # Security considerations
//
// Audit events ([WithAuditor]) and errors carry table, rule and column
// names and counts, never values or subject IDs. Deleting or clearing a
// value does not remove it from backups, replicas or the database's free
// pages; crypto-shredding (then=shred) does, for data encrypted under the
// subject's purpose key.
package retention
