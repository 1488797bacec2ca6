// Package tillidgorm is a GORM plugin that protects the pii-tagged fields
// of models on every write and reveals them after every query, so that
// GORM code stays as it is:
//
//	db.Use(tillidgorm.New(protector))
//	db.Create(&customer)              // columns hold ciphertexts; customer keeps its plaintext
//	db.First(&customer, "id = ?", id) // customer holds plaintext
//
// Writes: Create (of structs, maps and []map), CreateInBatches (one
// Protect call per batch, so vault tokens are made in one round trip),
// Save, Updates with a struct or a map, Update, UpdateColumn(s), a SET
// clause of the caller's and upserts (clause.OnConflict). The plugin
// protects a column-only deep copy of the record (pointers, slices, maps,
// arrays, nested structs and interfaces copied), so the caller's struct and
// what it points to keep their plaintext and blind indexes are filled in.
// Serializer fields (gorm:"serializer:json") are protected on every write
// path. A write that names a
// table and no tagged model (db.Table("customers").Updates(map…)) is
// protected as through the model the plugin knows for that table
// (see [Plugin.Register]); a column is found in every spelling the
// database takes (`name`, "name", customers.name, NAME). A value it cannot
// protect refuses the statement (nothing is written): an SQL expression
// (gorm.Expr, clause.Expr) or subquery assigned to a protected column, an
// upsert that sets one from anything but its inserted value
// (clause.AssignmentColumns), an update of protected columns over a slice
// of records, a Create of an untagged type into a protected table, an
// update by table of a column bound to its record (aad=) or of an index
// without its sources, and every error of [pii.Protector.Protect] (a missing aad=
// record ID among them: give records their ID before Create, as
// auto-increment IDs are known only after the insert).
//
// Associations (belongs to, has one, has many, many to many, polymorphic)
// are records of their own: GORM saves them with statements of their own,
// which the plugin protects with the association's own tags and record
// ID, and Protect and Reveal of the owner leave them alone, so one that is
// not set or not loaded neither fails nor is written. Preload reveals
// through the association's own query, and Joins reveals the joined
// association (a left join that matched no row leaves it zero).
// FirstOrInit and FirstOrCreate of a missing record reveal nothing and
// create protected. Columns of gorm:"embedded" structs are the owner's.
//
// Reads: Find, First, Take, Last and Preload reveal the result in place,
// before GORM's AfterFind hooks run. A protected string column that the
// query did not select, or that is NULL or empty in the row, reads as the
// empty string (an empty value leaks nothing); any other value that is not
// a valid ciphertext fails the query, as Reveal does. Rows of a model read
// into a tagged struct of another type (db.Model(&m).Scan(&rows)) are
// revealed through the model when the other type's protected fields have
// the model's columns, Go types and pii tags, and refused otherwise (stored
// values are bound to the model's type). Scan (db.Model(&m),
// db.Table or db.Raw) into a tagged struct or a slice of them reveals too,
// through the plugin's wrapper of the DB's logger, the one call GORM makes
// after a Scan: a session with a logger of its own (db.Session with
// Logger; db.Debug keeps the wrapper), or a logger set on the DB after
// db.Use, reads the stored forms. Pluck of a
// reversible protected column of a known model (db.Model(&m).Pluck) reads
// the records with the columns their values are bound to and returns the
// revealed values (a pii.Value[T] column into []T or []pii.Value[T]); a
// Distinct Pluck is revealed only for a string column bound to no record or
// subject, and refused otherwise, as is a Pluck over raw SQL. Index and
// pseudonym columns read as their stored forms everywhere. What the plugin
// cannot know reads as stored forms, which fail closed in the caller's
// Reveal: Rows with db.ScanRows (use [Plugin.ScanRows]), Row, and a Scan
// into a map or an untagged struct, which the plugin's logger reports with
// a warning that counts the stored forms read (no value in it).
//
// Lookups: [Plugin.Lookup] is a scope for a blind index, pseudonym or
// deterministic column that matches every live key's stored form. A struct
// or map condition that compares a protected column with anything but a
// stored form (Where(&Customer{Email: e})) is refused: it could never match,
// and GORM's logger would print the plaintext.
//
// Columns: pii.Value columns are text in AutoMigrate. String columns with a
// gorm size must hold the stored form; [Plugin.AutoMigrate] checks that
// (writes check it too) and makes protected string columns without a size
// text. GORM's logger prints the statement's arguments: for protected
// columns those are ciphertexts, blind indexes and tokens, and a refused
// statement logs no SQL. Statements written as raw SQL (Exec, Raw) are not
// protected.
package tillidgorm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/tillid/tillid/pii"
)

// Plugin protects and reveals pii-tagged fields in GORM statements. Make
// one with [New] and register it with db.Use. It is safe for concurrent
// use.
type Plugin struct {
	p        *pii.Protector
	parallel int
	models   sync.Map // *schema.Schema → *model
	tables   tableRegistry
}

var _ gorm.Plugin = (*Plugin)(nil)

// Option configures a Plugin. Options are made by the With… functions of
// this package.
type Option interface {
	apply(*Plugin)
}

type optionFunc func(*Plugin)

func (f optionFunc) apply(pl *Plugin) { f(pl) }

// WithParallelism lets the plugin reveal a query's result on up to n
// goroutines (n < 1 means runtime.GOMAXPROCS(0)); 1 reveals on the calling
// goroutine once GORM has scanned the whole result. With n above 1, a Find
// into a slice of the model's records (or of pointers to them) reveals
// chunks of 64 scanned records
// on n-1 other goroutines while GORM scans the next ones, so that revealing
// overlaps scanning and adds little wall-clock time to the query; other
// results of at least 128 records are revealed in n parts after the scan.
// Either way each goroutine reveals a copy of its part, and the result is
// set only when every part succeeded: a failure leaves the rows as stored.
// It applies to records whose fields hold no pointers, maps, interfaces or
// slices other than []byte; other results are revealed on the calling
// goroutine. The default is runtime.GOMAXPROCS(0) (unlike
// [pii.WithParallelism]'s 1): the overlap costs one copy of the records and
// a hand-off per chunk, not more CPU time per record.
func WithParallelism(n int) Option {
	return optionFunc(func(pl *Plugin) {
		if n < 1 {
			n = runtime.GOMAXPROCS(0)
		}
		pl.parallel = n
	})
}

// New returns a Plugin that protects and reveals with p. It panics if p or
// an option is nil (programmer errors).
func New(p *pii.Protector, opts ...Option) *Plugin {
	if p == nil {
		panic("tillidgorm: nil Protector")
	}
	pl := &Plugin{p: p, parallel: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		if o == nil {
			panic("tillidgorm: nil Option")
		}
		o.apply(pl)
	}
	return pl
}

// Name returns "tillid", the plugin's name in gorm.DB.Plugins.
func (pl *Plugin) Name() string { return "tillid" }

// ErrRefused is wrapped by the error of every statement the plugin
// refuses because a value could not be protected. Its text never holds
// the value.
var ErrRefused = errors.New("tillidgorm: statement refused")

const stateKey = "tillid:state"

// Initialize registers the plugin's callbacks. GORM calls it from db.Use.
func (pl *Plugin) Initialize(db *gorm.DB) error {
	if err := pl.registerScope(db); err != nil {
		return err
	}
	c := db.Callback()
	query := c.Query().Get("gorm:query")
	if query == nil {
		return errors.New("tillidgorm: no gorm:query callback to run queries with")
	}
	regs := []struct {
		name string
		err  error
	}{
		{"tillid:protect_create", c.Create().After("gorm:save_before_associations").Before("gorm:create").Register("tillid:protect_create", pl.protectCreate)},
		{"tillid:restore_create", c.Create().After("gorm:create").Before("gorm:save_after_associations").Register("tillid:restore_create", pl.restoreCreate)},
		{"tillid:protect_update", c.Update().After("gorm:save_before_associations").Before("gorm:update").Register("tillid:protect_update", pl.protectUpdate)},
		{"tillid:restore_update", c.Update().After("gorm:update").Before("gorm:save_after_associations").Register("tillid:restore_update", restoreUpdate)},
		{"gorm:query", c.Query().Replace("gorm:query", pl.query(query))},
		{"tillid:reveal", c.Query().After("gorm:query").Before("gorm:preload").Register("tillid:reveal", pl.reveal)},
		{"tillid:check_query", c.Query().Before("gorm:query").Register("tillid:check_query", pl.checkConditions)},
		{"tillid:pluck", c.Query().After("tillid:check_query").Before("gorm:query").Register("tillid:pluck", pl.pluck)},
		{"tillid:check_update", c.Update().Before("tillid:protect_update").Register("tillid:check_update", pl.checkConditions)},
		{"tillid:check_delete", c.Delete().Before("gorm:delete").Register("tillid:check_delete", pl.checkConditions)},
		{"tillid:check_row", c.Row().Before("gorm:row").Register("tillid:check_row", pl.checkConditions)},
		{"tillid:hook_scan", c.Row().Before("gorm:row").Register("tillid:hook_scan", pl.hookScan)},
	}
	for _, r := range regs {
		if r.err != nil {
			return fmt.Errorf("tillidgorm: register %s: %w", r.name, r.err)
		}
	}
	db.Config.Logger = pl.wrapLogger(db.Config.Logger)
	return nil
}

// refuse records err on db so that GORM writes nothing.
func refuse(db *gorm.DB, err error) {
	if errors.Is(err, ErrRefused) {
		db.AddError(err)
		return
	}
	db.AddError(fmt.Errorf("%w: %w", ErrRefused, err))
}

// createState is what protectCreate leaves for restoreCreate.
type createState struct {
	reflectValue reflect.Value // the caller's, to put back
	dest         any
	copied       reflect.Value // the protected copy, when a struct or slice
}

func (pl *Plugin) protectCreate(db *gorm.DB) {
	stmt := db.Statement
	t, ok := pl.writeTarget(db)
	if !ok {
		return
	}
	m := t.m
	if err := pl.checkOnConflict(stmt, t); err != nil {
		refuse(db, err)
		return
	}
	st := &createState{reflectValue: stmt.ReflectValue, dest: stmt.Dest}
	switch dest := stmt.Dest.(type) {
	case map[string]any:
		out, err := pl.protectMap(stmt.Context, t, dest)
		if err != nil {
			refuse(db, err)
			return
		}
		stmt.Dest = out
	case *map[string]any:
		out, err := pl.protectMap(stmt.Context, t, *dest)
		if err != nil {
			refuse(db, err)
			return
		}
		stmt.Dest = out
	case []map[string]any:
		out, err := pl.protectMaps(stmt.Context, t, dest)
		if err != nil {
			refuse(db, err)
			return
		}
		stmt.Dest = out
	case *[]map[string]any:
		out, err := pl.protectMaps(stmt.Context, t, *dest)
		if err != nil {
			refuse(db, err)
			return
		}
		stmt.Dest = out
	default:
		if stmt.Schema == nil || stmt.Schema.ModelType != m.schema.ModelType {
			if err := pl.foreignRecords(stmt, t); err != nil {
				refuse(db, err)
			}
			return
		}
		for _, f := range m.schema.Fields {
			if f.DBName == "" {
				continue
			}
			if err := t.check(f.DBName); err != nil {
				refuse(db, err)
				return
			}
		}
		cp, err := m.columnCopy(stmt.ReflectValue)
		if err != nil {
			refuse(db, err)
			return
		}
		if err := pl.p.Protect(stmt.Context, cp.Addr().Interface()); err != nil {
			refuse(db, err)
			return
		}
		st.copied = cp
		stmt.ReflectValue = cp
	}
	stmt.Settings.Store(stateKey, st)
}

// protectMaps protects each of rows, as protectMap does.
func (pl *Plugin) protectMaps(ctx context.Context, t target, rows []map[string]any) ([]map[string]any, error) {
	out := make([]map[string]any, len(rows))
	for i, row := range rows {
		var err error
		if out[i], err = pl.protectMap(ctx, t, row); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// foreignRecords returns the error of a Create of records of a type other
// than the tagged model of the table (db.Table("customers").Create(&lite)):
// a refusal when the type has a column the model protects, whose value
// would be written as given.
func (pl *Plugin) foreignRecords(stmt *gorm.Statement, t target) error {
	if stmt.Schema == nil {
		return fmt.Errorf("%w: %s: cannot protect a %T written to its table", ErrRefused, t.m.schema.Name, stmt.Dest)
	}
	for _, f := range stmt.Schema.Fields {
		if f.DBName == "" {
			continue
		}
		if c := t.m.protected(f.DBName); c != nil {
			return fmt.Errorf("%w: %s.%s writes the protected column %s.%s (table %s); write it through %s", ErrRefused, stmt.Schema.Name, f.Name, t.m.schema.Name, c.field.Name, t.m.schema.Table, t.m.schema.Name)
		}
	}
	return nil
}

// restoreCreate puts the caller's value back into the statement and
// copies into it what the insert set in the protected copy.
func (pl *Plugin) restoreCreate(db *gorm.DB) {
	stmt := db.Statement
	v, ok := stmt.Settings.LoadAndDelete(stateKey)
	if !ok {
		return
	}
	st := v.(*createState)
	stmt.ReflectValue, stmt.Dest = st.reflectValue, st.dest
	if !st.copied.IsValid() {
		return
	}
	m := pl.modelOf(stmt.Schema)
	switch st.reflectValue.Kind() {
	case reflect.Struct:
		m.copyBack(stmt.Context, st.reflectValue, st.copied)
	case reflect.Slice, reflect.Array:
		for i := 0; i < st.reflectValue.Len(); i++ {
			m.copyBack(stmt.Context, reflect.Indirect(st.reflectValue.Index(i)), st.copied.Index(i))
		}
	}
}

// columnCopy returns an addressable copy of rv (a struct, or a slice or
// array of structs or pointers to structs) holding only its columns (and
// its unexported fields, see copyColumns).
func (m *model) columnCopy(rv reflect.Value) (reflect.Value, error) {
	t := m.schema.ModelType
	switch rv.Kind() {
	case reflect.Struct:
		cp := reflect.New(t).Elem()
		m.copyColumns(cp, rv)
		m.detach(cp)
		return cp, nil
	case reflect.Slice, reflect.Array:
		cp := reflect.New(reflect.SliceOf(t)).Elem()
		cp.Set(reflect.MakeSlice(cp.Type(), rv.Len(), rv.Len()))
		for i := 0; i < rv.Len(); i++ {
			e := reflect.Indirect(rv.Index(i))
			if !e.IsValid() {
				return reflect.Value{}, fmt.Errorf("tillidgorm: %s: nil record at index %d", m.schema.Name, i)
			}
			m.copyColumns(cp.Index(i), e)
			m.detach(cp.Index(i))
		}
		return cp, nil
	}
	return reflect.Value{}, fmt.Errorf("tillidgorm: %s: cannot protect a %s", m.schema.Name, rv.Kind())
}

// copyColumns sets dst to src with the exported fields that hold no
// column (associations) zero; src's unexported and blank fields, which
// reflection cannot zero, are copied too.
func (m *model) copyColumns(dst, src reflect.Value) {
	if src.Type() != dst.Type() {
		return
	}
	dst.Set(src)
	for _, i := range m.clear {
		f := dst.Field(i)
		f.Set(reflect.Zero(f.Type()))
	}
}

func (m *model) copyBack(ctx context.Context, dst, src reflect.Value) {
	if !dst.CanSet() {
		return
	}
	for _, f := range m.back {
		d := f.ReflectValueOf(ctx, dst)
		// src holds copies of what dst's references point to (see
		// detach): put back only what the insert set (defaults of zero
		// fields) and blind indexes, so that dst keeps its own pointees.
		if m.columns[f.DBName] == nil && holdsRefs(f.FieldType) && !d.IsZero() {
			continue
		}
		d.Set(f.ReflectValueOf(ctx, src))
	}
}

// protectMap returns a copy of values (column or field name → value, in
// any spelling of identName), as inserted by Create, with every protected
// column set to its protected value under its column name (the protected
// zero value when values has none), so that the row reads back like one
// created from a struct.
func (pl *Plugin) protectMap(ctx context.Context, t target, values map[string]any) (map[string]any, error) {
	m := t.m
	rec := reflect.New(m.schema.ModelType).Elem()
	out := make(map[string]any, len(values)+len(m.columns))
	for k, v := range values {
		if err := t.check(k); err != nil {
			return nil, err
		}
		if c := m.protected(k); c != nil {
			if err := m.setValue(ctx, rec, c, v); err != nil {
				return nil, err
			}
			continue // written below, under its column name
		}
		out[k] = v
		if f := m.fieldNamed(k); f != nil {
			// For the record ID of aad= and the sources of indexes; a value
			// that does not fit (an SQL expression) leaves the field zero,
			// which Protect refuses where it binds a value.
			_ = f.Set(ctx, rec, v)
		}
	}
	m.detach(rec)
	if err := pl.p.Protect(ctx, rec.Addr().Interface()); err != nil {
		return nil, err
	}
	// Every protected column is written, as from a struct, so that the row
	// reads back: an absent one would be NULL, which Reveal refuses as
	// plaintext.
	for _, c := range m.columns {
		out[c.field.DBName] = columnValue(ctx, c, rec)
	}
	return out, nil
}

// setValue sets the plaintext v of protected column c in rec, refusing SQL
// expressions, which cannot be protected.
func (m *model) setValue(ctx context.Context, rec reflect.Value, c *column, v any) error {
	switch v.(type) {
	case clause.Expression, *gorm.DB, clause.Expr, *clause.Expr:
		return fmt.Errorf("%w: %s.%s is protected; assign a value, not an SQL expression", ErrRefused, m.schema.Name, c.field.Name)
	}
	// A serializer field's value as GORM hands it over (Save, Updates of
	// a struct): the field's own value, read from the record it came from.
	if c.field.Serializer != nil {
		v = unserialized(ctx, v)
	}
	// Only the field's own type: GORM would Scan anything else into a
	// pii.Value, which then looks protected and would be written as given.
	if v != nil {
		t, ft := reflect.TypeOf(v), c.field.FieldType
		ok := t == ft || t == c.field.IndirectFieldType || t.Kind() == reflect.Pointer && t.Elem() == ft ||
			ft.Kind() == reflect.String && t.Kind() == reflect.String
		if !ok {
			return fmt.Errorf("%w: %s.%s is a %s; cannot assign a %s", ErrRefused, m.schema.Name, c.field.Name, ft, t)
		}
	}
	if err := c.field.Set(ctx, rec, v); err != nil {
		return fmt.Errorf("%w: %s.%s: cannot assign a %T", ErrRefused, m.schema.Name, c.field.Name, v)
	}
	return nil
}

// checkOnConflict refuses an upsert that sets a protected column to
// anything but the same column of the row it inserts (excluded.col, as
// clause.AssignmentColumns and UpdateAll write): a literal or an SQL
// expression would be written as given.
func (pl *Plugin) checkOnConflict(stmt *gorm.Statement, t target) error {
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok {
		return nil
	}
	oc, ok := c.Expression.(clause.OnConflict)
	if !ok {
		return nil
	}
	for _, a := range oc.DoUpdates {
		if err := t.check(a.Column.Name); err != nil {
			return err
		}
		col := t.m.protected(a.Column.Name)
		if col == nil {
			continue
		}
		v, ok := a.Value.(clause.Column)
		if !ok || v.Raw || !strings.EqualFold(v.Table, "excluded") || identName(v.Name) != identName(a.Column.Name) {
			return fmt.Errorf("%w: %s.%s is protected; an upsert may only set it from the inserted row (clause.AssignmentColumns)", ErrRefused, t.m.schema.Name, col.field.Name)
		}
		if err := conflictKeepsRecord(oc, t.m, col); err != nil {
			return err
		}
	}
	if oc.UpdateAll {
		for _, col := range t.m.columns {
			if err := conflictKeepsRecord(oc, t.m, col); err != nil {
				return err
			}
		}
	}
	return nil
}

// protectUpdate builds the statement's SET clause as GORM would, then
// protects the values of protected columns in it.
func (pl *Plugin) protectUpdate(db *gorm.DB) {
	stmt := db.Statement
	t, ok := pl.writeTarget(db)
	if !ok {
		return
	}
	var set clause.Set
	if c, ok := stmt.Clauses["SET"]; ok {
		s, ok := c.Expression.(clause.Set)
		if !ok {
			refuse(db, fmt.Errorf("%w: %s: a SET clause of type %T cannot be checked for protected columns", ErrRefused, t.m.schema.Name, c.Expression))
			return
		}
		set = s
	} else {
		set = callbacks.ConvertToAssignments(stmt)
		if db.Error != nil {
			return
		}
		stmt.Settings.Store(stateKey, true) // restoreUpdate removes the SET clause
	}
	if len(set) == 0 {
		return
	}
	out, err := pl.protectSet(stmt, t, set)
	if err != nil {
		refuse(db, err)
		return
	}
	stmt.AddClause(out)
}

func restoreUpdate(db *gorm.DB) {
	if _, ok := db.Statement.Settings.LoadAndDelete(stateKey); ok {
		delete(db.Statement.Clauses, "SET")
	}
}

// protectSet returns set with the values of protected columns protected
// and the blind indexes derived from them added (and set in the model).
// The record the values are bound to (aad=) is the statement's model; a
// statement with none (db.Table with a map) protects values bound to no
// record, and is refused for the others.
func (pl *Plugin) protectSet(stmt *gorm.Statement, t target, set clause.Set) (clause.Set, error) {
	ctx, m := stmt.Context, t.m
	var hit []int
	assigned := map[*schema.Field]bool{}
	for i, a := range set {
		if err := t.check(a.Column.Name); err != nil {
			return nil, err
		}
		if m.protected(a.Column.Name) != nil {
			hit = append(hit, i)
		}
		if f := m.fieldNamed(a.Column.Name); f != nil {
			assigned[f] = true
		}
	}
	if len(hit) == 0 {
		return set, nil
	}
	rec, model, err := pl.updateRecord(stmt, t, set, assigned)
	if err != nil {
		return nil, err
	}
	cols := make([]*column, len(hit))
	for j, i := range hit {
		cols[j] = m.protected(set[i].Column.Name)
		if err := m.setValue(ctx, rec, cols[j], set[i].Value); err != nil {
			return nil, err
		}
	}
	m.detach(rec)
	// Only the columns the update sets (and their indexes) are protected:
	// the others are not written, and may not be protectable (an aad=
	// column with no record ID in an update by table).
	if err := pl.p.Protect(onlyColumns(ctx, m, cols), rec.Addr().Interface()); err != nil {
		if !model.IsValid() && errors.Is(err, pii.ErrMissingRecordID) {
			return nil, fmt.Errorf("%w: %s: a column bound to its record cannot be updated by table; update it through a model that holds the record's ID (db.Model(&%s{…})): %w", ErrRefused, m.schema.Name, m.schema.Name, err)
		}
		return nil, err
	}
	out := make(clause.Set, len(set), len(set)+1)
	copy(out, set)
	for j, i := range hit {
		c := cols[j]
		// The column's own name: GORM would quote "customers.name" or
		// `name` as written, which the database may not take.
		out[i].Column = clause.Column{Name: c.field.DBName}
		out[i].Value = columnValue(ctx, c, rec)
		for _, d := range m.derived[c.field.Name] {
			if assigned[d.field] {
				continue
			}
			assigned[d.field] = true
			v := d.field.ReflectValueOf(ctx, rec)
			out = append(out, clause.Assignment{Column: clause.Column{Name: d.field.DBName}, Value: v.Interface()})
			if model.IsValid() && model.CanAddr() {
				d.field.ReflectValueOf(ctx, model).Set(v)
			}
		}
	}
	return out, nil
}

// updateRecord returns the record whose protected values an update sets,
// filled from the statement's model (its ID and the sources of indexes),
// and that model when it is of the record's type (invalid otherwise).
// assigned are the fields the update sets.
func (pl *Plugin) updateRecord(stmt *gorm.Statement, t target, set clause.Set, assigned map[*schema.Field]bool) (rec, model reflect.Value, err error) {
	ctx, m := stmt.Context, t.m
	rec = reflect.New(m.schema.ModelType).Elem()
	src := stmt.ReflectValue
	switch {
	case src.Kind() == reflect.Struct && src.Type() == rec.Type():
		m.copyColumns(rec, src)
		return rec, src, nil
	case src.Kind() == reflect.Struct && stmt.Schema != nil:
		// A model of an untagged type for the table: its columns by name.
		for _, f := range m.schema.Fields {
			if f.DBName == "" || m.columns[f.DBName] != nil {
				continue
			}
			if sf := stmt.Schema.LookUpField(f.DBName); sf != nil && sf.FieldType == f.FieldType {
				f.ReflectValueOf(ctx, rec).Set(sf.ReflectValueOf(ctx, src))
			}
		}
		return rec, reflect.Value{}, nil
	case src.Kind() == reflect.Map:
		// No model (db.Table): values bound to no record. An index is
		// derived from its sources, which must all be in the update.
		for _, a := range set {
			if f := m.fieldNamed(a.Column.Name); f != nil && m.columns[f.DBName] == nil {
				_ = f.Set(ctx, rec, a.Value)
			}
		}
		for _, a := range set {
			c := m.protected(a.Column.Name)
			if c == nil {
				continue
			}
			indexes := m.derived[c.field.Name]
			if c.action == "index" {
				indexes = append(indexes, c)
			}
			for _, d := range indexes {
				for _, name := range d.sources {
					if f := m.schema.LookUpField(name); f == nil || !assigned[f] {
						return rec, model, fmt.Errorf("%w: %s.%s is derived from %s too; update its sources together, or through a model that holds them", ErrRefused, m.schema.Name, d.field.Name, name)
					}
				}
			}
		}
		return rec, reflect.Value{}, nil
	}
	return rec, model, fmt.Errorf("%w: %s: update protected columns one record at a time, through a model that holds its ID", ErrRefused, m.schema.Name)
}

// reveal reveals the rows a query scanned into tagged structs. It runs
// before preloading, whose own queries reveal the associations.
func (pl *Plugin) reveal(db *gorm.DB) {
	if unscannedRecord(db) {
		return
	}
	stmt := db.Statement
	_, done := stmt.Settings.LoadAndDelete(revealedKey)
	if !done {
		pl.revealDest(db)
		// A Find of a protected model into maps or an untagged struct.
		if db.Error == nil && stmt.Schema != nil && elemType(stmt.Dest) != stmt.Schema.ModelType && len(pl.modelOf(stmt.Schema).columns) > 0 {
			pl.warnStored(db, db.Logger)
		}
	}
	if st, ok := stmt.Settings.LoadAndDelete(pluckKey); ok {
		pl.finishPluck(db, st.(*pluckState))
	}
}

// elemType is the type of the records dest points to: through pointers,
// slices and arrays.
func elemType(dest any) reflect.Type {
	t := reflect.TypeOf(dest)
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		t = t.Elem()
	}
	return t
}

// revealDest reveals the statement's Dest when it holds tagged structs.
func (pl *Plugin) revealDest(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	if err := pl.revealValue(db, db.Statement.Context, statementModel(db), db.Statement.Dest); err != nil {
		db.AddError(err)
	}
}

// revealValue reveals dest, a pointer to a struct or to a slice or array of
// structs or of pointers to them, read for schema s (nil: dest's own), when
// that struct type has protected columns. Any other dest is left alone.
func (pl *Plugin) revealValue(db *gorm.DB, ctx context.Context, s *schema.Schema, dest any) error {
	rv := reflect.ValueOf(dest)
	if dest == nil || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil
	}
	t := rv.Type().Elem()
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	own := s
	if s == nil || s.ModelType != t {
		st := &gorm.Statement{DB: db}
		if err := st.Parse(reflect.New(t).Interface()); err != nil {
			return nil
		}
		s = st.Schema
	}
	m := pl.modelOf(s)
	if len(m.columns) == 0 {
		return nil
	}
	if own != nil && own.ModelType != t {
		// Rows of another tagged model (see foreign.go).
		if om := pl.modelOf(own); len(om.columns) > 0 {
			return pl.revealThrough(db, ctx, om, m, rv)
		}
	}
	return pl.revealOwn(ctx, m, rv)
}

// revealOwn reveals what rv points to (see revealValue) with m, the model
// of its own struct type.
func (pl *Plugin) revealOwn(ctx context.Context, m *model, rv reflect.Value) error {
	// Columns the query did not select (or NULL ones) left protected
	// strings empty, which Reveal would refuse as plaintext: fill them with
	// protected empty strings, and empty them again after.
	filled := pl.fillEmpty(ctx, m, rv.Elem())
	defer func() {
		for _, f := range filled {
			f.SetString("")
		}
	}()
	return pl.revealRows(ctx, m, rv)
}

// revealRows reveals the struct or the slice of structs that rv points to.
func (pl *Plugin) revealRows(ctx context.Context, m *model, rv reflect.Value) error {
	e := rv.Elem()
	if e.Kind() == reflect.Struct && e.Type() == m.schema.ModelType && len(m.clear) > 0 {
		// Associations loaded earlier may hold plaintext already: reveal
		// the scanned columns only, then put the associations back.
		cp := reflect.New(e.Type())
		m.copyColumns(cp.Elem(), e)
		if err := pl.p.Reveal(ctx, cp.Interface()); err != nil {
			return err
		}
		for _, f := range m.schema.Fields {
			if f.DBName != "" {
				f.ReflectValueOf(ctx, e).Set(f.ReflectValueOf(ctx, cp.Elem()))
			}
		}
		return nil
	}
	if e.Kind() == reflect.Slice && pl.parallel > 1 && e.Len() >= 2*minPart && flat(e.Type().Elem()) {
		return pl.revealParallel(ctx, m, e)
	}
	return pl.p.Reveal(ctx, rv.Interface())
}

// fillEmpty sets every empty protected string column of the rows in v (a
// struct, or a slice or array of structs or pointers to them) to a
// protected empty string for its record, so that Reveal gives "" back, and
// returns the fields it set. Blind indexes need none (Reveal leaves them).
// A column bound to nothing but its field (no aad=, no subject) takes one
// protected empty string for all rows; the others are protected for their
// rows, in one Protect call for all of them. A record whose empty string
// cannot be protected (no record ID) is left for Reveal to report.
func (pl *Plugin) fillEmpty(ctx context.Context, m *model, v reflect.Value) []reflect.Value {
	if len(m.fillable) == 0 {
		return nil
	}
	var rows []reflect.Value
	switch v.Kind() {
	case reflect.Struct:
		rows = []reflect.Value{v}
	case reflect.Slice, reflect.Array:
		rows = make([]reflect.Value, 0, v.Len())
		for i := range v.Len() {
			rows = append(rows, v.Index(i))
		}
	}
	// The empty fields, and the rows that need a protected empty string of
	// their own.
	type hole struct {
		field reflect.Value
		col   *column
		row   int // index in bound, or -1
	}
	var holes []hole
	var bound []reflect.Value
	unbound := -1 // a row with an unbound hole, whose record the shared values are protected for
	for _, row := range rows {
		row = reflect.Indirect(row)
		if !row.IsValid() || row.Type() != m.schema.ModelType {
			continue
		}
		at := -1
		for _, c := range m.fillable {
			f := c.field.ReflectValueOf(ctx, row)
			if f.String() != "" {
				continue
			}
			h := hole{field: f, col: c, row: -1}
			if m.bound(c) {
				if at < 0 {
					at = len(bound)
					bound = append(bound, row)
				}
				h.row = at
			} else if unbound < 0 {
				unbound = len(bound)
				bound = append(bound, row)
				at = unbound
			}
			holes = append(holes, h)
		}
	}
	if len(holes) == 0 {
		return nil
	}
	recs, ok := pl.protectEmpty(ctx, m, bound)
	filled := make([]reflect.Value, 0, len(holes))
	for _, h := range holes {
		i := h.row
		if i < 0 {
			i = unbound
		}
		if !ok[i] {
			continue
		}
		h.field.Set(h.col.field.ReflectValueOf(ctx, recs.Index(i)))
		filled = append(filled, h.field)
	}
	return filled
}

// protectEmpty protects, in one Protect call, a record per row of rows
// holding only the row's unprotected columns (its IDs among them), and
// reports which protected. When the call fails (a row without its record
// ID), each record is protected on its own.
func (pl *Plugin) protectEmpty(ctx context.Context, m *model, rows []reflect.Value) (reflect.Value, []bool) {
	recs := reflect.New(reflect.SliceOf(m.schema.ModelType))
	recs.Elem().Set(reflect.MakeSlice(recs.Elem().Type(), len(rows), len(rows)))
	for i, row := range rows {
		rec := recs.Elem().Index(i)
		for _, f := range m.back {
			if m.columns[f.DBName] == nil {
				f.ReflectValueOf(ctx, rec).Set(f.ReflectValueOf(ctx, row))
			}
		}
	}
	ok := make([]bool, len(rows))
	if pl.p.Protect(ctx, recs.Interface()) == nil {
		for i := range ok {
			ok[i] = true
		}
		return recs.Elem(), ok
	}
	for i := range rows {
		ok[i] = pl.p.Protect(ctx, recs.Elem().Index(i).Addr().Interface()) == nil
	}
	return recs.Elem(), ok
}

// minPart is the fewest records a goroutine of a parallel reveal takes.
const minPart = 64

// revealParallel reveals copies of parts of the slice s on goroutines and
// copies them back only when every part succeeded.
func (pl *Plugin) revealParallel(ctx context.Context, m *model, s reflect.Value) error {
	parts := min(pl.parallel, s.Len()/minPart)
	chunks := make([]chunk, parts)
	var wg sync.WaitGroup
	for i := range chunks {
		chunks[i].stored = s.Slice(i*s.Len()/parts, (i+1)*s.Len()/parts)
		wg.Go(func() { pl.revealChunk(ctx, m, &chunks[i]) })
	}
	wg.Wait()
	for _, c := range chunks {
		if c.err != nil {
			return c.err
		}
	}
	for i, c := range chunks {
		reflect.Copy(s.Slice(i*s.Len()/parts, s.Len()), c.commit(true))
	}
	return nil
}

// flat reports whether a copy of a value of struct type t shares nothing
// mutable with it that Reveal could change: no pointer, map, interface,
// channel or function fields, and no slices but []byte, at any depth of
// nested structs (time.Time's location pointer is never written).
func flat(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			if f.Type == reflect.TypeFor[*time.Location]() {
				continue
			}
			return false
		case reflect.Slice:
			if f.Type.Elem().Kind() != reflect.Uint8 {
				return false
			}
		case reflect.Struct:
			if !flat(f.Type) {
				return false
			}
		case reflect.Array:
			if k := f.Type.Elem().Kind(); k == reflect.Struct && !flat(f.Type.Elem()) || k == reflect.Pointer || k == reflect.Slice || k == reflect.Map || k == reflect.Interface {
				return false
			}
		}
	}
	return true
}

// Lookup returns a GORM scope that keeps the rows whose column for field
// (an index, pseudonym or deterministic field of model's struct type, as
// in [pii.Protector.LookupTerms]) holds query under any live key:
//
//	db.Scopes(pl.Lookup(Customer{}, "EmailIdx", "ada@example.com")).Find(&cs)
//
// which adds WHERE email_idx IN (term, …), one term per enabled key, the
// primary's first, so rows written before a rotation are found too. The
// terms are what the column stores, so the logged SQL shows no plaintext.
// A field that does not support lookups (a deterministic field bound to a
// record with aad=) fails the statement with the error of LookupTerms.
func (pl *Plugin) Lookup(model any, field string, query ...string) func(*gorm.DB) *gorm.DB {
	return func(tx *gorm.DB) *gorm.DB {
		s := &gorm.Statement{DB: tx}
		if err := s.Parse(model); err != nil {
			tx.AddError(fmt.Errorf("tillidgorm: lookup: %w", err))
			return tx
		}
		f := s.Schema.LookUpField(field)
		if f == nil || f.DBName == "" {
			tx.AddError(fmt.Errorf("tillidgorm: lookup: %s has no column for field %s", s.Schema.Name, field))
			return tx
		}
		ctx := tx.Statement.Context
		if ctx == nil {
			ctx = context.Background()
		}
		terms, err := pl.p.LookupTerms(ctx, model, field, query...)
		if err != nil {
			tx.AddError(fmt.Errorf("tillidgorm: lookup: %w", err))
			return tx
		}
		values := make([]any, len(terms))
		for i, t := range terms {
			values[i] = t
		}
		return tx.Where(clause.IN{Column: clause.Column{Table: clause.CurrentTable, Name: f.DBName}, Values: values})
	}
}

// AutoMigrate checks that every protected column of models can hold what
// Protect stores in it (see the package doc), makes protected string
// columns declared without a size text, registers the models' tables (as
// [Plugin.Register] does), and then runs db.AutoMigrate. It
// returns the first column that does not fit, before changing the
// database.
func (pl *Plugin) AutoMigrate(db *gorm.DB, models ...any) error {
	for _, v := range models {
		m, err := pl.register(db, v)
		if err != nil {
			return err
		}
		for _, c := range m.columns {
			if c.field.Size == 0 && c.field.IndirectFieldType.Kind() == reflect.String {
				c.field.DataType = "text"
			}
		}
	}
	return db.AutoMigrate(models...)
}
