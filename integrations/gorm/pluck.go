package tillidgorm

import (
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/tillid/tillid/pii"
)

// This file reveals Pluck (and a one-column Select into a slice of values)
// of a protected column: the query reads records of the model, with the
// columns the plucked one's associated data needs, the reveal callback
// reveals them as for Find, and their plucked field fills the caller's
// slice.

const pluckKey = "tillid:pluck"

// pluckState is what the pluck callback leaves for the reveal callback.
type pluckState struct {
	dest    reflect.Value // the caller's slice
	destPtr any           // the statement's Dest as the caller gave it
	col     *column
	rows    reflect.Value // the *[]Model read instead
	// stored is the column of a Distinct Pluck, whose rows are a
	// *[]sql.NullString of stored forms.
	stored *pii.Column
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	scannerType = reflect.TypeFor[sql.Scanner]()
)

// pluck turns a Pluck of a reversible protected column of a known model
// into a read of the model's records (see the file's doc). It refuses what
// it cannot reveal: a Pluck over raw SQL, into an array, or a Distinct one
// of a column bound to its record or subject (the extra columns would
// change what is distinct).
func (pl *Plugin) pluck(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || stmt.Schema == nil {
		return
	}
	rv := stmt.ReflectValue
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return
	}
	et := rv.Type().Elem()
	for et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	if et == stmt.Schema.ModelType || et.Kind() == reflect.Struct && et != timeType && !reflect.PointerTo(et).Implements(scannerType) {
		return // records, which the reveal callback reveals
	}
	name := pluckedColumn(stmt)
	f := stmt.Schema.LookUpField(name)
	if f == nil || f.DBName == "" {
		return
	}
	m := pl.modelOf(stmt.Schema)
	c := m.columns[f.DBName]
	if c == nil {
		return
	}
	switch c.action {
	case "index", "pseudonym", "redact":
		return // the stored form is what Find gives too
	}
	switch {
	case stmt.SQL.Len() > 0:
		refuse(db, fmt.Errorf("%w: %s.%s is protected; a Pluck over raw SQL cannot be revealed: Raw(...).Find into []%s", ErrRefused, m.schema.Name, f.Name, m.schema.Name))
		return
	case rv.Kind() != reflect.Slice || !rv.CanSet():
		refuse(db, fmt.Errorf("%w: %s.%s is protected; pluck it into a slice", ErrRefused, m.schema.Name, f.Name))
		return
	}
	// Every column that binds a protected value to its record or subject:
	// the other protected columns of the records read stay empty, and
	// revealing them as empty needs these too.
	cols := []clause.Column{{Name: f.DBName}}
	for _, name := range m.binding() {
		if name != f.DBName {
			cols = append(cols, clause.Column{Name: name})
		}
	}
	if stmt.Distinct && len(cols) > 1 {
		// The distinct stored forms, revealed one by one, when the column
		// is bound to nothing but its field.
		if c.aad != "" || m.subject != nil || f.FieldType.Kind() != reflect.String {
			refuse(db, fmt.Errorf("%w: %s.%s: a Distinct Pluck reveals only string columns bound to no record or subject: pluck without Distinct and deduplicate", ErrRefused, m.schema.Name, f.Name))
			return
		}
		col, err := pii.ColumnFor(m.schema.ModelType, f.Name)
		if err != nil {
			refuse(db, err)
			return
		}
		stored := reflect.New(reflect.TypeFor[[]sql.NullString]())
		stmt.Settings.Store(pluckKey, &pluckState{dest: rv, destPtr: stmt.Dest, col: c, rows: stored, stored: &col})
		stmt.Dest, stmt.ReflectValue = stored.Interface(), stored.Elem()
		return
	}
	stmt.Selects = nil
	stmt.AddClause(clause.Select{Distinct: stmt.Distinct, Columns: cols})
	rows := reflect.New(reflect.SliceOf(m.schema.ModelType))
	stmt.Settings.Store(pluckKey, &pluckState{dest: rv, destPtr: stmt.Dest, col: c, rows: rows})
	stmt.Dest, stmt.ReflectValue = rows.Interface(), rows.Elem()
}

// binding returns the columns (DB names) that protected values of the
// model are bound to: aad= record IDs and the subject.
func (m *model) binding() []string {
	var out []string
	add := func(f *schema.Field) {
		if f != nil && f.DBName != "" && !slices.Contains(out, f.DBName) {
			out = append(out, f.DBName)
		}
	}
	for _, c := range m.columns {
		if c.aad != "" {
			add(m.schema.LookUpField(c.aad))
		}
	}
	add(m.subject)
	slices.Sort(out)
	return out
}

// pluckedColumn returns the one column a statement selects, or "".
func pluckedColumn(stmt *gorm.Statement) string {
	if len(stmt.Selects) == 1 {
		return stmt.Selects[0]
	}
	if c, ok := stmt.Clauses["SELECT"]; ok {
		if s, ok := c.Expression.(clause.Select); ok && len(s.Columns) == 1 && !s.Columns[0].Raw {
			return s.Columns[0].Name
		}
	}
	return ""
}

// finishPluck fills the caller's slice with the plucked field of the
// revealed records and gives the statement its Dest back. On error the
// caller's slice is left as it was.
func (pl *Plugin) finishPluck(db *gorm.DB, st *pluckState) {
	stmt := db.Statement
	stmt.Dest, stmt.ReflectValue = st.destPtr, st.dest
	if db.Error != nil {
		return
	}
	recs := st.rows.Elem()
	out := reflect.MakeSlice(st.dest.Type(), recs.Len(), recs.Len())
	if st.stored != nil {
		for i, s := range recs.Interface().([]sql.NullString) {
			if !s.Valid || s.String == "" {
				continue // NULL or empty: as Find reads them
			}
			pt, err := pl.p.RevealStored(stmt.Context, *st.stored, "", s.String)
			if err != nil {
				db.AddError(err)
				return
			}
			if !assignPlucked(out.Index(i), reflect.ValueOf(pt)) {
				db.AddError(fmt.Errorf("tillidgorm: cannot pluck %s.%s into a %s", st.col.field.Schema.Name, st.col.field.Name, st.dest.Type()))
				return
			}
		}
		st.dest.Set(out)
		return
	}
	for i := range recs.Len() {
		fv := st.col.field.ReflectValueOf(stmt.Context, recs.Index(i))
		if !assignPlucked(out.Index(i), fv) {
			db.AddError(fmt.Errorf("tillidgorm: cannot pluck %s.%s, a %s, into a %s", st.col.field.Schema.Name, st.col.field.Name, fv.Type(), st.dest.Type()))
			return
		}
	}
	st.dest.Set(out)
}

// piiValue is what assignPlucked needs of a pii.Value.
type piiValue interface {
	IsNull() bool
	IsProtected() bool
}

// assignPlucked sets dst to the revealed field value fv: as it is, through
// a pointer, converted between string kinds, or, for a pii.Value[T], its
// T (the zero value or nil when NULL). It reports false when it cannot.
func assignPlucked(dst, fv reflect.Value) bool {
	if v, ok := fv.Interface().(piiValue); ok && !fv.Type().AssignableTo(dst.Type()) {
		if v.IsProtected() {
			return false
		}
		if v.IsNull() {
			dst.SetZero()
			return true
		}
		fv = fv.MethodByName("Get").Call(nil)[0]
	}
	dt := dst.Type()
	switch {
	case fv.Type().AssignableTo(dt):
		dst.Set(fv)
	case dt.Kind() == reflect.Pointer && fv.Type().AssignableTo(dt.Elem()):
		p := reflect.New(dt.Elem())
		p.Elem().Set(fv)
		dst.Set(p)
	case fv.Kind() == reflect.String && dt.Kind() == reflect.String:
		dst.SetString(fv.String())
	default:
		return false
	}
	return true
}
