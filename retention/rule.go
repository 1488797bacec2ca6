package retention

import (
	"fmt"

	"github.com/tillid/tillid/pii"
	"regexp"
	"strings"
	"time"
)

// Rule is one retention rule on a table: the values of Column (the whole
// row for pii.ThenDelete) are kept for Retain after the time in column From,
// then Then happens to them.
type Rule struct {
	// Name identifies the rule in reports and audit events, for example
	// the Go field path "Customer.Notes"; "" means Column (or "row").
	Name string
	// Column is the column a pii.ThenRedact rule clears; "" for pii.ThenShred and
	// pii.ThenDelete.
	Column string
	// Zero is what pii.ThenRedact writes: nil writes NULL; a NOT NULL column
	// takes its type's zero value, such as "" or int64(0).
	Zero any
	// Retain is how long a value is kept after its anchor; at least 1h.
	Retain time.Duration
	// From is the anchor column: on PostgreSQL a timestamptz, timestamp
	// (read as UTC) or date (midnight UTC) column, any other type is an
	// error; on SQLite text in one of the forms the package doc lists
	// (those of SQLite's date functions, and Go's time.Time.String, which
	// modernc.org/sqlite writes). A value in no such form, NULL, Go's zero
	// time and an infinite timestamp are no anchor: never expired, counted
	// in RuleStats.NullAnchors.
	From string
	// Then is what happens at expiry: pii.ThenRedact, pii.ThenShred or
	// pii.ThenDelete.
	Then pii.Then
	// Purpose is the purpose a pii.ThenShred rule withdraws.
	Purpose string
}

// label is the rule's name in reports.
func (r Rule) label() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Column != "":
		return r.Column
	}
	return "row"
}

// Hold is the legal-hold column of a table: a held row is never touched by
// any rule, and is counted.
type Hold struct {
	// Column is the column's name; "" means the table has no hold.
	Column string
	// Time says the column is a nullable timestamp (held while it is not
	// NULL: it records when the hold was placed); otherwise it is a boolean,
	// held unless it is false: a NULL holds the row (counted as
	// [Stats.HoldUnknown]), since a sweep must not take an undecided hold
	// for no hold. On PostgreSQL it must be of type boolean.
	Time bool
}

// Table describes one table and its rules. [ForType] builds it from a
// tagged Go struct type; a Table written by hand (the CLI's -rule flags)
// is checked by [New].
type Table struct {
	// Name is the table's name.
	Name string
	// Key is the table's key column: an integer (SMALLINT, INTEGER,
	// BIGINT), text (TEXT, VARCHAR) or uuid column, or SQLite's "rowid".
	// Sweeps walk the table in the key's order, in batches; a key that is
	// not unique is fine (a batch takes every row of its last key).
	Key string
	// Subject is the column holding the data subject's ID, which a
	// pii.ThenShred rule withdraws; "" when no rule shreds.
	Subject string
	// Hold is the legal hold; the zero Hold for none.
	Hold Hold
	// Rules are the table's rules, in the order they apply to a row.
	Rules []Rule
	// Tokens are the columns holding vault tokens (tokenize= fields): a
	// pii.ThenDelete rule deletes the tokens of the rows it deletes
	// through the Tokenizer of their domain ([WithTokenizers]).
	Tokens []TokenColumn
}

// TokenColumn is a column of vault tokens of one token domain.
type TokenColumn struct {
	Column, Domain string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// checkIdent checks a SQL identifier: the sweeper quotes identifiers but
// accepts only plain ones, so that a name can never carry SQL.
func checkIdent(what, name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("retention: %s %q: want 1 to 63 characters of A-Z, a-z, 0-9 and '_', not starting with a digit", what, name)
	}
	return nil
}

// check validates t: identifiers, one key, every rule complete, at most
// one rule per cleared column.
func (t Table) check() error {
	if err := checkIdent("table", t.Name); err != nil {
		return err
	}
	if err := checkIdent("key column", t.Key); err != nil {
		return err
	}
	if t.Hold.Column != "" {
		if err := checkIdent("hold column", t.Hold.Column); err != nil {
			return err
		}
	}
	for _, tc := range t.Tokens {
		if err := checkIdent("token column", tc.Column); err != nil {
			return err
		}
	}
	if len(t.Rules) == 0 {
		return fmt.Errorf("retention: table %s has no rule", t.Name)
	}
	cleared := map[string]string{}
	for _, r := range t.Rules {
		if r.Then == pii.ThenRedact {
			if other, dup := cleared[strings.ToLower(r.Column)]; dup {
				return fmt.Errorf("retention: rules %s and %s both clear column %s; give a column one rule", other, r.label(), r.Column)
			}
			cleared[strings.ToLower(r.Column)] = r.label()
		}
		if err := checkIdent("from column of rule "+r.label(), r.From); err != nil {
			return err
		}
		if r.Retain < time.Hour {
			return fmt.Errorf("retention: rule %s: retain %v is shorter than 1h", r.label(), r.Retain)
		}
		switch r.Then {
		case pii.ThenRedact:
			if err := checkIdent("column of rule "+r.label(), r.Column); err != nil {
				return err
			}
			if r.Column == t.Key || r.Column == r.From {
				return fmt.Errorf("retention: rule %s clears its table's key or its own anchor; redact another column", r.label())
			}
		case pii.ThenShred:
			if r.Purpose == "" {
				return fmt.Errorf("retention: rule %s: then=shred needs purpose=", r.label())
			}
			if err := checkIdent("subject column (for then=shred of rule "+r.label()+")", t.Subject); err != nil {
				return err
			}
		case pii.ThenDelete:
		default:
			return fmt.Errorf("retention: rule %s: then must be redact, shred or delete", r.label())
		}
	}
	return nil
}
