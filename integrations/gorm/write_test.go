package tillidgorm_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
)

// CustomerLite is an untagged struct for the customers table.
type CustomerLite struct {
	ID   string `gorm:"primaryKey"`
	Name string
}

func (CustomerLite) TableName() string { return "customers" }

// outcome is what a write path must do with a protected value.
type outcome int

const (
	// protected: the write succeeds and the value reads back.
	protected outcome = iota + 1
	// refused: the write fails with ErrRefused and changes nothing.
	refused
	// protectedOrFails: the database may reject the statement (a column
	// spelling it does not know), and otherwise the value reads back.
	protectedOrFails
)

// testSpelledWritePaths runs every way of naming a protected column or
// its table in a write, over a stored customer c1, and proves from the raw
// rows and GORM's log that no plaintext was written.
func testSpelledWritePaths(t *testing.T, open opener) {
	const name, email = "A. M. Turing", "alan@example.com"
	tests := []struct {
		name      string
		write     func(db *gorm.DB) error
		want      outcome
		wantName  string // Name of c1 read back, when not refused
		wantEmail string
		reason    string
	}{
		{"Update backticks", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Update("`name`", name).Error
		}, protected, name, "ada@example.com", "a quoted column is the column"},
		{"Update double quotes", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Update(`"name"`, name).Error
		}, protected, name, "ada@example.com", "PostgreSQL's quoting"},
		{"Update qualified", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Update("customers.name", name).Error
		}, protected, name, "ada@example.com", "table.column"},
		{"Update quoted qualified", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Update("`customers`.`email`", email).Error
		}, protected, "Ada Lovelace", email, ""},
		{"Update upper case", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Update("NAME", name).Error
		}, protected, name, "ada@example.com", "SQLite ignores case, PostgreSQL folds unquoted names: the plugin writes the column's own name"},
		{"Table Update email", func(db *gorm.DB) error {
			return db.Table("customers").Where("id = ?", "c1").Update("email", email).Error
		}, protected, "Ada Lovelace", email, "deterministic, bound to no record: protected without a model"},
		{"Table Updates name", func(db *gorm.DB) error {
			return db.Table("customers").Where("id = ?", "c1").Updates(map[string]any{"name": name}).Error
		}, refused, "", "", "aad=ID: no model, no record ID"},
		{"Table UpdateColumn name", func(db *gorm.DB) error {
			return db.Table("customers").Where("id = ?", "c1").UpdateColumn("customers.name", name).Error
		}, refused, "", "", ""},
		{"Table Updates index without its source", func(db *gorm.DB) error {
			return db.Table("customers").Where("id = ?", "c1").Updates(map[string]any{"email_idx": email}).Error
		}, refused, "", "", "an index is derived from a source the update lacks"},
		{"UpdateColumn quoted", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).UpdateColumn("`name`", name).Error
		}, protected, name, "ada@example.com", ""},
		{"UpdateColumns qualified", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).UpdateColumns(map[string]any{"customers.name": name, "Email": email}).Error
		}, protected, name, email, ""},
		{"Updates quoted map", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Updates(map[string]any{`"email"`: email}).Error
		}, protected, "Ada Lovelace", email, ""},
		{"clause.Set quoted", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Where("id = ?", "c1").Clauses(clause.Set{{Column: clause.Column{Name: "`name`"}, Value: name}}).Update("country", "DK").Error
		}, protected, name, "ada@example.com", "a SET clause of the caller's"},
		{"gorm.Expr", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Update("`name`", gorm.Expr("?", name)).Error
		}, refused, "", "", "an expression cannot be protected"},
		{"clause.Expr in a map", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Updates(map[string]any{"customers.email": clause.Expr{SQL: "?", Vars: []any{email}}}).Error
		}, refused, "", "", ""},
		{"clause.Set with an expression", func(db *gorm.DB) error {
			return db.Model(&Customer{ID: "c1"}).Where("id = ?", "c1").Clauses(clause.Set{{Column: clause.Column{Name: "name"}, Value: gorm.Expr("?", name)}}).Update("country", "DK").Error
		}, refused, "", "", ""},
		{"untagged model for the table", func(db *gorm.DB) error {
			return db.Model(&CustomerLite{ID: "c1"}).Updates(map[string]any{"name": name}).Error
		}, protected, name, "ada@example.com", "the table's tagged model protects it, bound to the untagged model's ID"},
		{"Save untagged struct", func(db *gorm.DB) error {
			return db.Save(&CustomerLite{ID: "c1", Name: name}).Error
		}, protected, name, "ada@example.com", "Save updates every column"},
		{"Table Save map", func(db *gorm.DB) error {
			return db.Table("customers").Save(map[string]any{"id": "c1", "name": name}).Error
		}, protectedOrFails, name, "ada@example.com", "Save of a map updates with no WHERE, which GORM refuses"},
		{"Table Save tagged struct", func(db *gorm.DB) error {
			c := customer("c1")
			c.Orders, c.Name = nil, name
			return db.Table("customers").Save(&c).Error
		}, protected, name, "ada@example.com", ""},
		{"Create untagged struct", func(db *gorm.DB) error {
			return db.Create(&CustomerLite{ID: "c2", Name: name}).Error
		}, refused, "", "", "a Create of another type holds its values as given"},
		{"upsert Assignments quoted", func(db *gorm.DB) error {
			n := customer("c1")
			n.Orders = nil
			return db.Clauses(clause.OnConflict{DoUpdates: clause.Assignments(map[string]any{"`name`": name})}).Create(&n).Error
		}, refused, "", "", "a literal in DO UPDATE would be written as given"},
		{"upsert from another column", func(db *gorm.DB) error {
			n := customer("c1")
			n.Orders = nil
			return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Set{{Column: clause.Column{Name: "name"}, Value: clause.Column{Table: "excluded", Name: "country"}}}}).Create(&n).Error
		}, refused, "", "", "excluded.country is plaintext"},
		{"upsert expression", func(db *gorm.DB) error {
			n := customer("c1")
			n.Orders = nil
			return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Set{{Column: clause.Column{Name: "name"}, Value: gorm.Expr("?", name)}}}).Create(&n).Error
		}, refused, "", "", ""},
		{"upsert on another key", func(db *gorm.DB) error {
			n := customer("c9")
			n.Orders, n.Name = nil, name
			return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "email_idx"}}, DoUpdates: clause.AssignmentColumns([]string{"name"})}).Create(&n).Error
		}, refused, "", "", "name is bound to the inserted ID; the row updated may hold another"},
		{"upsert AssignmentColumns", func(db *gorm.DB) error {
			n := customer("c1")
			n.Orders, n.Name, n.Email = nil, name, email
			return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"name", "email", "email_idx"})}).Create(&n).Error
		}, protected, name, email, "excluded.name is the protected inserted value"},
		{"upsert UpdateAll", func(db *gorm.DB) error {
			n := customer("c1")
			n.Orders, n.Name = nil, name
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&n).Error
		}, protected, name, "ada@example.com", ""},
		{"Table upsert map", func(db *gorm.DB) error {
			return db.Table("customers").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"name"})}).
				Create(map[string]any{"id": "c1", "name": name}).Error
		}, protected, name, "ada@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := open(t)
			c := customer("c1")
			require.NoError(t, e.db.Create(&c).Error)
			before := e.rawCell(t, "name", "c1")
			beforeEmail := e.rawCell(t, "email", "c1")
			e.log.Reset()
			err := tt.write(e.db)
			e.assertNoPlaintext(t, tt.name)
			if err != nil {
				assert.NotContains(t, err.Error(), name, "the error shows a value")
				assert.NotContains(t, err.Error(), email, "the error shows a value")
			}
			switch {
			case tt.want == refused:
				require.Error(t, err, tt.reason)
				assert.ErrorIs(t, err, tillidgorm.ErrRefused, tt.reason)
				assert.Equal(t, before, e.rawCell(t, "name", "c1"), "a refused statement changed the name")
				assert.Equal(t, beforeEmail, e.rawCell(t, "email", "c1"), "a refused statement changed the email")
				return
			case tt.want == protected:
				require.NoError(t, err, tt.reason)
			case err != nil:
				assert.False(t, errors.Is(err, tillidgorm.ErrRefused), "%s: refused: %v", tt.reason, err)
				return
			}
			var got Customer
			require.NoError(t, e.db.First(&got, "id = ?", "c1").Error)
			assert.Equal(t, tt.wantName, got.Name, "Name read back (%s)", tt.reason)
			assert.Equal(t, tt.wantEmail, got.Email, "Email read back (%s)", tt.reason)
			var n int64
			require.NoError(t, e.db.Model(&Customer{}).Scopes(e.pl.Lookup(Customer{}, "EmailIdx", tt.wantEmail)).Count(&n).Error)
			assert.EqualValues(t, 1, n, "the blind index follows the email")
		})
	}

	t.Run("Table Create maps", func(t *testing.T) {
		e := open(t)
		require.NoError(t, e.db.Table("customers").Create(map[string]any{"id": "c2", "name": name, "`email`": email}).Error)
		require.NoError(t, e.db.Table("customers").Create([]map[string]any{
			{"id": "c3", "customers.name": name, "email": email},
			{"id": "c4", "Name": name, "email": email},
		}).Error)
		require.NoError(t, e.db.Model(&Customer{}).Create(&[]map[string]any{{"id": "c5", "NAME": name}}).Error)
		require.NoError(t, e.db.Table("customers").CreateInBatches([]map[string]any{{"id": "c6", "name": name}, {"id": "c7", "name": name}}, 1).Error)
		e.assertNoPlaintext(t, "Table Create maps")
		var got []Customer
		require.NoError(t, e.db.Order("id").Find(&got).Error)
		require.Len(t, got, 6)
		for _, g := range got {
			assert.Equal(t, name, g.Name, "%s read back", g.ID)
		}
		assert.Equal(t, email, got[0].Email)
		var n int64
		require.NoError(t, e.db.Model(&Customer{}).Scopes(e.pl.Lookup(Customer{}, "EmailIdx", email)).Count(&n).Error)
		assert.EqualValues(t, 3, n, "blind indexes derived from map creates")

		err := e.db.Table("customers").Create(map[string]any{"name": name}).Error
		assert.ErrorIs(t, err, tillidgorm.ErrRefused, "a map create with no record ID for aad=")
		err = e.db.Table("customers").Create(map[string]any{"id": "c8", "name": gorm.Expr("?", name)}).Error
		assert.ErrorIs(t, err, tillidgorm.ErrRefused, "an expression in a map create")
		e.assertNoPlaintext(t, "refused map creates")
	})
}

// testTablePrefix: a naming strategy's table prefix is part of the table
// the plugin knows.
func testTablePrefix(t *testing.T, open opener) {
	e := open(t)
	db, err := gorm.Open(e.db.Dialector, &gorm.Config{Logger: e.db.Logger, NamingStrategy: schema.NamingStrategy{TablePrefix: "t_"}})
	require.NoError(t, err)
	p, _ := newProtector(t)
	pl := tillidgorm.New(p)
	require.NoError(t, db.Use(pl))
	require.NoError(t, pl.AutoMigrate(db, &Customer{}, &Order{}))
	require.NoError(t, db.Table("t_customers").Create(map[string]any{"id": "p1", "name": "A. M. Turing", "email": "alan@example.com"}).Error)
	require.NoError(t, db.Table("t_customers").Where("id = ?", "p1").Update("email", "alan@example.com").Error)
	var stored string
	require.NoError(t, db.Raw("SELECT name FROM t_customers WHERE id = ?", "p1").Scan(&stored).Error)
	assert.True(t, strings.HasPrefix(stored, "tl1e:"), "stored %q", stored)
	require.NoError(t, db.Raw("SELECT email FROM t_customers WHERE id = ?", "p1").Scan(&stored).Error)
	assert.True(t, strings.HasPrefix(stored, "tl1"), "stored %q", stored)
	e.assertNoPlaintext(t, "table prefix")
}

// testRegisterBeforeTableWrite: a plugin that has run no statement through
// the model learns its table from Register.
func testRegisterBeforeTableWrite(t *testing.T, open opener) {
	e := open(t)
	db, err := gorm.Open(e.db.Dialector, &gorm.Config{Logger: e.db.Logger})
	require.NoError(t, err)
	p, _ := newProtector(t)
	pl := tillidgorm.New(p)
	require.NoError(t, db.Use(pl))
	require.NoError(t, pl.Register(db, &Customer{}))
	err = db.Table("customers").Create(map[string]any{"id": "r1", "name": "A. M. Turing"}).Error
	require.NoError(t, err)
	e.assertNoPlaintext(t, "registered")
}

func TestSQLiteFreshDatabase(t *testing.T) {
	// The control of the registry: a table no tagged model maps to is
	// written as given.
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "f.db")), &gorm.Config{})
	require.NoError(t, err)
	p, _ := newProtector(t)
	require.NoError(t, db.Use(tillidgorm.New(p)))
	require.NoError(t, db.Exec("CREATE TABLE things (id text, name text)").Error)
	require.NoError(t, db.Table("things").Create(map[string]any{"id": "t1", "name": "plain"}).Error)
	var got string
	require.NoError(t, db.Raw("SELECT name FROM things").Scan(&got).Error)
	assert.Equal(t, "plain", got, "an untagged table")
}
