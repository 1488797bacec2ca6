package tillidgorm

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tillid/tillid/internal/envelope"
)

// This file reveals what db.Scan reads into tagged structs. Scan runs
// GORM's row callbacks (gorm:row), before its destination is known, then
// scans the rows itself, and calls no callback after (Scan skips hooks by
// design, go-gorm/gorm#3522). The one call GORM makes after the scan is to
// its logger, whose Trace gets the statement's context: the row callback
// puts a hook in that context and the plugin's logger, which wraps the one
// the DB had at db.Use, reveals the destination there. A session given
// another logger (db.Session(&gorm.Session{Logger: l})) bypasses it and
// reads the stored forms, as Rows does; db.Debug() keeps it.

// scanHookKey is the context key of a statement's scanHook.
type scanHookKey struct{}

// scanHook lets the plugin's logger find the statement a Scan filled.
type scanHook struct {
	db   *gorm.DB
	done atomic.Bool
}

// recorderType is the type of the logger GORM's Scan runs its Rows
// statement with (it records the SQL for the one Trace after the scan).
var recorderType = reflect.TypeOf(logger.Recorder.New())

// hookScan puts a scanHook in the context of the Rows statement of a Scan,
// for the plugin's logger. A Rows call of the caller's own (whose logger is
// not Scan's recorder) gets none.
func (pl *Plugin) hookScan(db *gorm.DB) {
	if db.Error != nil || reflect.TypeOf(db.Logger) != recorderType {
		return
	}
	if rows, ok := db.Get("rows"); !ok || rows != true {
		return
	}
	db.Statement.Context = context.WithValue(db.Statement.Context, scanHookKey{}, &scanHook{db: db})
}

// scanLogger is the DB's logger with a Trace that reveals a Scan's
// destination before passing the call on.
type scanLogger struct {
	logger.Interface
	pl *Plugin
}

var (
	_ logger.Interface  = (*scanLogger)(nil)
	_ gorm.ParamsFilter = (*scanLogger)(nil)
)

// LogMode returns the wrapped logger's LogMode, wrapped again (so that
// db.Debug() still reveals Scans).
func (l *scanLogger) LogMode(level logger.LogLevel) logger.Interface {
	return &scanLogger{Interface: l.Interface.LogMode(level), pl: l.pl}
}

// Trace reveals the tagged destination of the Scan whose statement
// context ctx is, adding the error of a failed reveal to the Scan's, then
// calls the wrapped logger's Trace.
func (l *scanLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	// The Trace after the scan is the only one of the Scan's statement
	// that reaches this logger; later statements that reuse its context
	// find the hook done. A Scan that read no row did not call ScanRows:
	// its Dest is not the caller's destination.
	if h, ok := ctx.Value(scanHookKey{}).(*scanHook); ok && h.done.CompareAndSwap(false, true) && err == nil && h.db.RowsAffected > 0 {
		switch h.db.Statement.Dest.(type) {
		case *sql.Rows, *sql.Row, nil:
		default:
			l.pl.revealDest(h.db)
			err = h.db.Error
			if err == nil {
				l.pl.warnStored(h.db, l.Interface)
			}
		}
	}
	l.Interface.Trace(ctx, begin, fc, err)
}

// ParamsFilter is the wrapped logger's, when it has one (GORM's loggers
// hide the arguments under ParameterizedQueries).
func (l *scanLogger) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := l.Interface.(gorm.ParamsFilter); ok {
		return f.ParamsFilter(ctx, sql, params...)
	}
	return sql, params
}

// ScanRows is db.ScanRows(rows, dest) followed by the reveal of dest, for
// the rows of db.Rows(), which GORM scans with no callback the plugin could
// use: dest is a pointer to a tagged struct (or a slice of them), and on
// error it may hold stored forms, never plaintext of another row. It
// returns the error of db.ScanRows or of [pii.Protector.Reveal]. It is safe
// for concurrent use.
//
//	rows, err := db.Model(&Customer{}).Rows()
//	for rows.Next() {
//		var c Customer
//		err := pl.ScanRows(db, rows, &c)
//	}
func (pl *Plugin) ScanRows(db *gorm.DB, rows *sql.Rows, dest any) error {
	if db == nil || rows == nil {
		return errors.New("tillidgorm: ScanRows: nil db or rows")
	}
	if err := db.ScanRows(rows, dest); err != nil {
		return err
	}
	return pl.revealValue(db, db.Statement.Context, nil, dest)
}

// wrapLogger returns l wrapped in a scanLogger, once.
func (pl *Plugin) wrapLogger(l logger.Interface) logger.Interface {
	if s, ok := l.(*scanLogger); ok && s.pl == pl {
		return l
	}
	if l == nil {
		l = logger.Discard
	}
	return &scanLogger{Interface: l, pl: pl}
}

// warnStored warns through lg when the statement's Dest, which has no
// protected columns of its own (a map, a value, an untagged struct), read
// stored forms of protected columns: the plugin cannot reveal them. The
// warning counts them and shows no value.
func (pl *Plugin) warnStored(db *gorm.DB, lg logger.Interface) {
	dest := db.Statement.Dest
	if pl.protects(db, dest) {
		return
	}
	if n := countStored(reflect.ValueOf(dest), 0); n > 0 {
		lg.Warn(db.Statement.Context, "tillidgorm: a read put %d stored protected values into a %T, which has no pii tags, so they are not revealed: Find or Scan into the tagged model reveals them", n, dest)
	}
}

// protects reports whether dest points to a struct type (or a slice or
// array of them) with protected columns.
func (pl *Plugin) protects(db *gorm.DB, dest any) bool {
	t := elemType(dest)
	if t == nil || t.Kind() != reflect.Struct {
		return false
	}
	st := &gorm.Statement{DB: db}
	if st.Parse(reflect.New(t).Interface()) != nil {
		return false
	}
	return len(pl.modelOf(st.Schema).columns) > 0
}

// countStored counts the strings and byte slices in v, to a depth of 4
// (pointers, slices, maps, struct fields, interfaces), that carry a tillid
// stored-form prefix: what a Scan into a map or an untagged struct read
// from protected columns. It reads no value beyond the prefix.
func countStored(v reflect.Value, depth int) int {
	if depth > 4 || !v.IsValid() {
		return 0
	}
	switch v.Kind() {
	case reflect.String:
		if envelope.HasPrefixString(v.String()) {
			return 1
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return countStored(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.Kind() == reflect.Slice && envelope.HasPrefix(v.Bytes()) {
				return 1
			}
			return 0
		}
		n := 0
		for i := range v.Len() {
			n += countStored(v.Index(i), depth+1)
		}
		return n
	case reflect.Map:
		n := 0
		for it := v.MapRange(); it.Next(); {
			n += countStored(it.Value(), depth+1)
		}
		return n
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n += countStored(v.Field(i), depth+1)
			}
		}
		return n
	}
	return 0
}
