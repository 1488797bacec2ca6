package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file checks, before anything is erased, that each subject ID names
// the rows it matches in an integer -subject-column the way the
// application binds it, and flags a run that changed a subject's rows but
// destroyed none of its keys.

// subjectColumnType returns the declared type of the -subject-column (as
// SQLite's pragma_table_info or PostgreSQL's information_schema gives it)
// and whether it holds numbers: a SQLite type of INTEGER, REAL or NUMERIC
// affinity, or a PostgreSQL smallint, integer, bigint, numeric, real or
// double precision.
func subjectColumnType(ctx context.Context, db *database, o *erasureOpts) (string, bool, error) {
	var q string
	if db.dialect == dialectSQLite {
		q = `SELECT type FROM pragma_table_info(?) WHERE name = ?`
	} else {
		q = `SELECT data_type FROM information_schema.columns
			WHERE table_name = $1 AND column_name = $2 AND table_schema = ANY(current_schemas(false)) LIMIT 1`
	}
	var typ string
	if err := db.sql.QueryRowContext(ctx, q, o.table, o.column).Scan(&typ); err != nil {
		return "", false, fmt.Errorf("reading the type of %s of %s: %w", o.column, o.table, err)
	}
	if db.dialect == dialectSQLite {
		return typ, sqliteNumericAffinity(typ), nil
	}
	switch typ {
	case "smallint", "integer", "bigint", "numeric", "real", "double precision":
		return typ, true, nil
	}
	return typ, false, nil
}

// sqliteNumericAffinity reports whether a SQLite column of declared type
// typ has INTEGER, REAL or NUMERIC affinity (the rules of SQLite's
// "Determination Of Column Affinity"): such a column converts a text like
// "042" to the number 42 when it is compared, so an ID matches the rows of
// another. TEXT affinity (CHAR, CLOB, TEXT) and BLOB affinity (BLOB, or no
// type) compare text as it is.
func sqliteNumericAffinity(typ string) bool {
	t := strings.ToUpper(typ)
	switch {
	case strings.Contains(t, "INT"):
		return true
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return false
	case t == "", strings.Contains(t, "BLOB"):
		return false
	}
	return true // REAL, FLOA, DOUB and everything else (NUMERIC affinity)
}

// canonicalInteger reports whether id is the canonical decimal form of a
// 64-bit integer, as strconv.FormatInt writes it: no sign but a leading
// '-', no leading zeros, no spaces, no exponent.
func canonicalInteger(id string) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	return err == nil && strconv.FormatInt(n, 10) == id
}

// checkIntegerSubjects returns a usage error naming the place (never the
// ID) of the first subject ID that is not canonicalInteger when the
// -subject-column holds integers. The database converts such an ID
// ("042", "+42", " 42", "4.2e1") to the integer it reads as, so the
// statements would match and change row 42, while the application bound
// that subject's keys (and the associated data of its values) to the
// canonical text "42": the run would destroy no key and the data would
// still reveal.
func checkIntegerSubjects(ctx context.Context, db *database, o *erasureOpts, ids []subjectID) error {
	typ, integer, err := subjectColumnType(ctx, db, o)
	if err != nil || !integer {
		return err
	}
	for _, s := range ids {
		if !canonicalInteger(s.id) {
			return usagef("%s: -subject-column %s of %s is %s (numeric), and the subject ID is not an integer in canonical decimal form (no leading zeros, '+', spaces or exponent): the database would convert it and match another ID's rows, while the application seals under the canonical form; give the ID as strconv.FormatInt writes it; nothing was erased", s.where, o.column, o.table, typ)
		}
	}
	return nil
}

// keylessRows is a subject whose rows a run changed although it destroyed
// no key of it, now or earlier.
type keylessRows struct {
	where string
	rows  int64
}

// keyless reports whether receipt r changed rows without any key of its
// subject destroyed, now or by an earlier run: the subject-key store never
// held the subject (or that purpose of it) under this ID, so either the ID
// is not the one the application sealed under, or those rows held nothing
// under subject keys.
func (r receipt) keyless() bool {
	return r.Rows > 0 && len(r.Destroyed)+len(r.Earlier) == 0
}

// warnKeyless prints a warning for each subject of list and returns the
// error that makes the run exit non-zero (1): the receipts are printed and
// the erasures recorded, but a receipt with destroyed=0 beside changed rows
// must not pass for a completed erasure unseen.
func warnKeyless(stderr io.Writer, o *erasureOpts, list []keylessRows) error {
	if len(list) == 0 {
		return nil
	}
	for _, k := range list {
		fmt.Fprintf(stderr, "tillid: warning: %s: %d rows of %s were changed, but the subject-key store held no key of this subject to destroy: if the application sealed its data under subject keys, the ID differs from the one it used (check its exact form) and that data still reveals; if those rows hold no value under subject keys, this is expected\n", k.where, k.rows, o.table)
	}
	return fmt.Errorf("%d subjects had rows changed but no subject key destroyed (see the warnings above); their receipts are printed and recorded", len(list))
}
