package tillidgorm

import (
	"database/sql/driver"
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tillid/tillid/internal/envelope"
)

// checkConditions refuses a statement whose WHERE compares a protected
// column with a value that is not a stored form (a plaintext from a struct
// or map condition, such as Where(&Customer{Email: e})): it could never
// match, and GORM's logger would print the plaintext. Conditions written as
// SQL strings ("email = ?") are not parsed; use [Plugin.Lookup].
func (pl *Plugin) checkConditions(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil {
		return
	}
	c, ok := stmt.Clauses["WHERE"]
	if !ok {
		return
	}
	w, ok := c.Expression.(clause.Where)
	if !ok {
		return
	}
	// The statement's model, and the tagged models of its table (a
	// condition through db.Table names their columns too).
	var ms []*model
	if stmt.Schema != nil {
		ms = append(ms, pl.modelOf(stmt.Schema))
	}
	ms = append(ms, pl.tables.lookup(statementTables(stmt)...)...)
	for _, m := range ms {
		if len(m.columns) == 0 {
			continue
		}
		if err := m.checkExprs(w.Exprs); err != nil {
			refuse(db, err)
			return
		}
	}
}

func (m *model) checkExprs(exprs []clause.Expression) error {
	for _, e := range exprs {
		var col any
		var values []any
		switch x := e.(type) {
		case clause.Eq:
			col, values = x.Column, []any{x.Value}
		case clause.Neq:
			col, values = x.Column, []any{x.Value}
		case clause.IN:
			col, values = x.Column, x.Values
		case clause.AndConditions:
			if err := m.checkExprs(x.Exprs); err != nil {
				return err
			}
			continue
		case clause.OrConditions:
			if err := m.checkExprs(x.Exprs); err != nil {
				return err
			}
			continue
		case clause.NotConditions:
			if err := m.checkExprs(x.Exprs); err != nil {
				return err
			}
			continue
		default:
			continue
		}
		name := ""
		switch c := col.(type) {
		case clause.Column:
			name = c.Name
		case string:
			name = c
		}
		pc := m.protected(name)
		if pc == nil {
			continue
		}
		for _, v := range values {
			if !storedForm(v) {
				return fmt.Errorf("%w: a condition compares the protected column %s.%s with a value that is not its stored form; look it up with Plugin.Lookup", ErrRefused, m.schema.Name, pc.field.Name)
			}
		}
	}
	return nil
}

// storedForm reports whether v may be what a protected column stores: NULL,
// a tillid envelope or token, or a Valuer (a pii.Value) that yields one.
func storedForm(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return envelope.HasPrefixString(x)
	case []byte:
		return envelope.HasPrefix(x)
	case driver.Valuer:
		if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return true
		}
		dv, err := x.Value()
		return err == nil && storedForm(dv)
	}
	return false
}
