package tillidgorm

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/internal/walkskip"
)

// This file is what the plugin knows of tables: the tagged models each
// table name maps to, so that a write that names a table (db.Table) and no
// model is protected as the model's would be, and the spellings of SQL
// names (quoted, qualified, in another case) that name one column.

// tableRegistry maps normalised table names to the tagged models whose
// rows they hold. It is safe for concurrent use.
type tableRegistry struct {
	mu     sync.RWMutex
	byName map[string][]*model
	skips  sync.Map // *model → []bool, its fields that hold no column
}

// remember records that tables (names as a statement or a schema spells
// them) hold rows of m, when m has protected columns.
func (r *tableRegistry) remember(m *model, tables ...string) {
	if m == nil || len(m.columns) == 0 {
		return
	}
	for _, t := range tables {
		name := tableIdent(t)
		if name == "" {
			continue
		}
		r.mu.RLock()
		known := false
		for _, k := range r.byName[name] {
			known = known || k == m
		}
		r.mu.RUnlock()
		if known {
			continue
		}
		r.mu.Lock()
		if r.byName == nil {
			r.byName = map[string][]*model{}
		}
		dup := false
		for _, k := range r.byName[name] {
			dup = dup || k == m
		}
		if !dup {
			r.byName[name] = append(r.byName[name], m)
		}
		r.mu.Unlock()
	}
}

// lookup returns the tagged models registered for the tables a statement
// names, the first registered first.
func (r *tableRegistry) lookup(tables ...string) []*model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*model
	for _, t := range tables {
		for _, m := range r.byName[tableIdent(t)] {
			dup := false
			for _, o := range out {
				dup = dup || o == m
			}
			if !dup {
				out = append(out, m)
			}
		}
	}
	return out
}

// statementTables returns the table names a statement writes to or reads
// from: db.Table's name (GORM keeps an alias there for "customers AS c",
// so the expression's first name too) and the schema's table.
func statementTables(stmt *gorm.Statement) []string {
	names := make([]string, 0, 3)
	if stmt.Table != "" {
		names = append(names, stmt.Table)
	}
	if stmt.TableExpr != nil {
		names = append(names, stmt.TableExpr.SQL)
	}
	if stmt.Schema != nil {
		names = append(names, stmt.Schema.Table)
	}
	return names
}

// tableIdent returns the table an SQL table expression names first
// ("public"."customers" AS c → customers), lower-cased; "" for an
// expression that does not start with a name (a subquery).
func tableIdent(expr string) string {
	fields := strings.Fields(expr)
	if len(fields) == 0 || strings.ContainsAny(fields[0], "(?") {
		return ""
	}
	return identName(fields[0])
}

// identName returns the last part of a possibly qualified and quoted SQL
// name ("customers"."name", `name`, [Name], c.NAME → name), lower-cased:
// SQLite and MySQL compare column names without case, and PostgreSQL
// folds unquoted names to lower case, so one spelling stands for all.
func identName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return strings.ToLower(strings.Trim(s, "`\"[] "))
}

// protected returns the protected column that name (a column or Go field
// name, in any of the spellings of identName) stands for, or nil.
func (m *model) protected(name string) *column {
	if c := m.columns[name]; c != nil {
		return c
	}
	n := identName(name)
	for _, c := range m.columns {
		if strings.EqualFold(c.field.DBName, n) || strings.EqualFold(c.field.Name, n) {
			return c
		}
	}
	return nil
}

// fieldNamed returns the field with a column that name stands for, as
// protected does, or nil.
func (m *model) fieldNamed(name string) *schema.Field {
	if f := m.schema.LookUpField(name); f != nil && f.DBName != "" {
		return f
	}
	n := identName(name)
	for _, f := range m.schema.Fields {
		if f.DBName != "" && (strings.EqualFold(f.DBName, n) || strings.EqualFold(f.Name, n)) {
			return f
		}
	}
	return nil
}

// target is what protects a write statement: the model whose tags protect
// it, and the other tagged models of its table, whose protected columns
// the statement may write only where m protects them too.
type target struct {
	m      *model
	others []*model
}

// check refuses a write of column name when another tagged model of the
// table protects it and the statement's model does not.
func (t target) check(name string) error {
	if t.m.protected(name) != nil {
		return nil
	}
	for _, o := range t.others {
		if c := o.protected(name); c != nil {
			return fmt.Errorf("%w: %s.%s is protected (table %s); write it through %s", ErrRefused, o.schema.Name, c.field.Name, o.schema.Table, o.schema.Name)
		}
	}
	return nil
}

// writeTarget returns what protects a write statement, or ok false when
// it has no protected column to protect (or was refused: db.Error says
// which). The statement's own schema protects it when tagged; otherwise
// the first tagged model registered for its table does (db.Table with a
// map, or with a struct of an untagged type).
func (pl *Plugin) writeTarget(db *gorm.DB) (target, bool) {
	stmt := db.Statement
	if db.Error != nil || stmt.SQL.Len() > 0 {
		return target{}, false
	}
	var own *model
	if stmt.Schema != nil {
		own = pl.modelOf(stmt.Schema)
		pl.tables.remember(own, stmt.Table, stmt.Schema.Table)
	}
	var t target
	for _, m := range pl.tables.lookup(statementTables(stmt)...) {
		if own != nil && m.schema.ModelType == own.schema.ModelType {
			continue
		}
		t.others = append(t.others, m)
	}
	switch {
	case own != nil && len(own.columns) > 0:
		t.m = own
	case len(t.others) > 0:
		t.m, t.others = t.others[0], t.others[1:]
	default:
		return target{}, false
	}
	if t.m.err != nil {
		refuse(db, t.m.err)
		return target{}, false
	}
	if own != nil && own != t.m && own.schema.ModelType != t.m.schema.ModelType {
		// A struct of an untagged type written to a protected table: its
		// values are refused below where they reach a protected column.
		t.others = append([]*model{t.m}, t.others...)
	}
	return t, true
}

// Register tells the plugin the tables of models (tagged structs or
// pointers to them), parsed with db's naming strategy and table prefix
// (TableName methods included), so that a write that names a table and
// no model (db.Table("customers").Updates(map…)) is protected or refused
// from the first statement on. AutoMigrate through the plugin registers
// too, and so does every statement through a model. It returns the parse
// error or the size error of the first model that has one. It is safe
// for concurrent use.
func (pl *Plugin) Register(db *gorm.DB, models ...any) error {
	for _, v := range models {
		if _, err := pl.register(db, v); err != nil {
			return err
		}
	}
	return nil
}

// register parses model v with db's settings and records its tables.
func (pl *Plugin) register(db *gorm.DB, v any) (*model, error) {
	s := &gorm.Statement{DB: db}
	if err := s.Parse(v); err != nil {
		return nil, fmt.Errorf("tillidgorm: %w", err)
	}
	m := pl.modelOf(s.Schema)
	if m.err != nil {
		return nil, m.err
	}
	pl.tables.remember(m, s.Table, s.Schema.Table)
	return m, nil
}

// scope runs first in every statement: it records the statement's table
// for its tagged model, and adds to the statement's context the model's
// fields that hold no column (associations, which GORM saves and loads in
// statements of their own), so that Protect and Reveal of its records
// leave them alone.
func (pl *Plugin) scope(db *gorm.DB) {
	stmt := db.Statement
	if stmt.Schema == nil || stmt.Context == nil {
		return
	}
	m := pl.modelOf(stmt.Schema)
	pl.tables.remember(m, stmt.Table, stmt.Schema.Table)
	stmt.Context = pl.withoutAssociations(stmt.Context, m)
}

// withoutAssociations returns ctx with m's fields that hold no column
// skipped by Protect and Reveal.
func (pl *Plugin) withoutAssociations(ctx context.Context, m *model) context.Context {
	if len(m.drop) == 0 {
		return ctx
	}
	v, ok := pl.tables.skips.Load(m)
	if !ok {
		skip := make([]bool, m.schema.ModelType.NumField())
		for _, i := range m.drop {
			skip[i] = true
		}
		v, _ = pl.tables.skips.LoadOrStore(m, skip)
	}
	return walkskip.With(ctx, m.schema.ModelType, v.([]bool))
}

// registerScope registers scope first in every callback chain, and
// revealJoins after the query (its order to tillid:reveal does not
// matter: each reveals what the other leaves alone).
func (pl *Plugin) registerScope(db *gorm.DB) error {
	c := db.Callback()
	for _, r := range []struct {
		name string
		err  error
	}{
		{"create", c.Create().Before("*").Register("tillid:scope_create", pl.scope)},
		{"update", c.Update().Before("*").Register("tillid:scope_update", pl.scope)},
		{"query", c.Query().Before("*").Register("tillid:scope_query", pl.scope)},
		{"delete", c.Delete().Before("*").Register("tillid:scope_delete", pl.scope)},
		{"row", c.Row().Before("*").Register("tillid:scope_row", pl.scope)},
		{"reveal_joins", c.Query().After("gorm:query").Before("gorm:preload").Register("tillid:reveal_joins", pl.revealJoins)},
	} {
		if r.err != nil {
			return fmt.Errorf("tillidgorm: register %s: %w", r.name, r.err)
		}
	}
	return nil
}

// onlyColumns returns ctx with every field of m's struct skipped by
// Protect but those that hold cols and the indexes derived from them.
func onlyColumns(ctx context.Context, m *model, cols []*column) context.Context {
	skip := make([]bool, m.schema.ModelType.NumField())
	for i := range skip {
		skip[i] = true
	}
	for _, c := range cols {
		skip[c.field.StructField.Index[0]] = false
		for _, d := range m.derived[c.field.Name] {
			skip[d.field.StructField.Index[0]] = false
		}
	}
	return walkskip.With(ctx, m.schema.ModelType, skip)
}

// conflictKeepsRecord refuses an upsert that would copy col's inserted
// value, bound to the inserted record's ID (aad=), into a row of another
// ID: one whose conflict target (oc.Columns) is given and leaves out the
// record ID's column, so that the conflicting row may hold another ID and
// could no longer be read. A target left to the database (no Columns, or
// a named constraint) is not known here and is let through.
func conflictKeepsRecord(oc clause.OnConflict, m *model, col *column) error {
	if len(oc.Columns) == 0 || oc.OnConstraint != "" {
		return nil
	}
	raw, _ := col.field.Tag.Lookup("pii")
	t, err := tag.Parse(raw)
	if err != nil {
		return nil // the model's tag error refuses every write already
	}
	for _, o := range t.Options {
		if o.Name != "aad" {
			continue
		}
		id := m.fieldNamed(o.Value)
		if id == nil {
			return nil
		}
		for _, c := range oc.Columns {
			if identName(c.Name) == strings.ToLower(id.DBName) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s.%s is bound to %s; an upsert that sets it must conflict on %s, or the row it updates may hold another %s", ErrRefused, m.schema.Name, col.field.Name, id.Name, id.DBName, id.Name)
	}
	return nil
}
