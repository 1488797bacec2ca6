package tillidgorm_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

type Customer struct {
	ID       string               `gorm:"primaryKey" pii:"-"`
	Name     string               `pii:"encrypt,class=identity,aad=ID"`
	Email    string               `pii:"deterministic,class=contact"`
	EmailIdx string               `gorm:"size:33" pii:"index=Email,normalize=email"`
	Born     pii.Value[time.Time] `pii:"encrypt,class=identity,aad=ID"`
	Phone    string               `pii:"pseudonym"`
	Notes    string               `pii:"redact"`
	Country  string
	Orders   []Order
}

type Order struct {
	ID         string `gorm:"primaryKey" pii:"-"`
	CustomerID string `pii:"-"`
	Address    string `pii:"encrypt,class=contact,aad=ID"`
}

// plaintexts are the values of the fixture that must never reach a column.
var plaintexts = []string{"Ada Lovelace", "ada@example.com", "+45 1234 5678", "private note", "12 Analytical St", "A. M. Turing", "alan@example.com", "1815-12-10"}

func customer(id string) Customer {
	return Customer{
		ID: id, Name: "Ada Lovelace", Email: "ada@example.com",
		Born:  pii.NewValue(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)),
		Phone: "+45 1234 5678", Notes: "private note", Country: "GB",
		Orders: []Order{{ID: id + "-o1", Address: "12 Analytical St"}},
	}
}

type env struct {
	db  *gorm.DB
	raw *sql.DB
	pl  *tillidgorm.Plugin
	p   *pii.Protector
	ks  *keys.Store
	log *bytes.Buffer
}

func newProtector(t testing.TB) (*pii.Protector, *keys.Store) {
	ks := keys.NewMemory()
	p, err := pii.New(ks)
	require.NoError(t, err)
	return p, ks
}

// tb is what assertNoPlaintext needs of a test, so that a recorder can
// check that it fails.
type tb interface {
	require.TestingT
	Helper()
}

// recorder is a tb that records failures.
type recorder struct{ failed bool }

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) FailNow()              { r.failed = true }
func (r *recorder) Helper()               {}

// opener opens a fresh database with the plugin (made with opts) and its
// tables.
type opener func(t testing.TB, opts ...tillidgorm.Option) *env

// suite is every test that runs on each database.
var suite = []struct {
	name string
	test func(*testing.T, opener)
}{
	{"CreateProtectsAndKeepsPlaintext", testCreateProtectsAndKeepsPlaintext},
	{"WritePaths", testWritePaths},
	{"Refused", testRefused},
	{"CreateInBatches", testCreateInBatches},
	{"CreateMap", testCreateMap},
	{"LookupAcrossRotation", testLookupAcrossRotation},
	{"FindIntoPopulatedStruct", testFindIntoPopulatedStruct},
	{"SizeTooSmall", testSizeTooSmall},
	{"ReadPaths", testReadPaths},
	{"PartialSelect", testPartialSelect},
	{"PlaintextConditionsRefused", testPlaintextConditionsRefused},
	{"AutoIncrementAndPointers", testAutoIncrementAndPointers},
	{"CallerMemoryKept", testCallerMemoryKept},
	{"OtherTaggedType", testOtherTaggedType},
	// write_test.go, assoc_test.go
	{"SpelledWritePaths", testSpelledWritePaths},
	{"TablePrefix", testTablePrefix},
	{"RegisterBeforeTableWrite", testRegisterBeforeTableWrite},
	{"Associations", testAssociations},
	{"PointerAssociation", testPointerAssociation},
	{"FirstOrCreate", testFirstOrCreate},
	{"AssociationKinds", testAssociationKinds},
	// blank_test.go
	{"BlankFields", testBlankFields},
	// pipeline_test.go
	{"PipelineAllOrNothing", testPipelineAllOrNothing},
}

func TestSQLite(t *testing.T) {
	for _, s := range suite {
		t.Run(s.name, func(t *testing.T) { s.test(t, openSQLite) })
	}
}

// openSQLite opens a fresh SQLite database file with the plugin and a
// logger that records every statement with its arguments.
func openSQLite(t testing.TB, opts ...tillidgorm.Option) *env {
	path := filepath.Join(t.TempDir(), "test.db")
	return openWithPlugin(t, sqlite.Open(path), opts...)
}

func openWithPlugin(t testing.TB, d gorm.Dialector, opts ...tillidgorm.Option) *env {
	var buf bytes.Buffer
	lg := logger.New(log.New(&buf, "", 0), logger.Config{LogLevel: logger.Info, ParameterizedQueries: false})
	db, err := gorm.Open(d, &gorm.Config{Logger: lg})
	require.NoError(t, err)
	p, ks := newProtector(t)
	pl := tillidgorm.New(p, opts...)
	require.NoError(t, db.Use(pl))
	require.NoError(t, pl.AutoMigrate(db, &Customer{}, &Order{}, &Note{}))
	raw, err := db.DB()
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	return &env{db: db, raw: raw, pl: pl, p: p, ks: ks, log: &buf}
}

// assertNoPlaintext reads every text cell of the tables and the log and
// fails if one holds a plaintext of the fixture.
func (e *env) assertNoPlaintext(t tb, what string) {
	t.Helper()
	e.assertAbsent(t, what, []string{"customers", "orders", "notes"}, plaintexts)
}

// assertAbsent reads every cell of tables and the log and fails if one
// holds one of secrets.
func (e *env) assertAbsent(t tb, what string, tables, secrets []string) {
	t.Helper()
	for _, table := range tables {
		rows, err := e.raw.Query("SELECT * FROM " + table)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			cells := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range cells {
				ptrs[i] = &cells[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for i, c := range cells {
				s := fmt.Sprint(c)
				if b, ok := c.([]byte); ok {
					s = string(b)
				}
				for _, pt := range secrets {
					assert.NotContains(t, s, pt, "%s: %s.%s holds plaintext", what, table, cols[i])
				}
			}
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	for _, pt := range secrets {
		assert.NotContains(t, e.log.String(), pt, "%s: the GORM log shows plaintext", what)
	}
}

func (e *env) rawCell(t *testing.T, column, id string) string {
	t.Helper()
	var s sql.NullString
	require.NoError(t, e.db.Raw("SELECT "+column+" FROM customers WHERE id = ?", id).Scan(&s).Error)
	return s.String
}

func testCreateProtectsAndKeepsPlaintext(t *testing.T, open opener) {
	e := open(t)
	c := customer("c1")
	require.NoError(t, e.db.Create(&c).Error)
	e.assertNoPlaintext(t, "Create")

	want := customer("c1")
	assert.Equal(t, want.Name, c.Name, "caller's Name after Create")
	assert.Equal(t, want.Email, c.Email, "caller's Email after Create")
	assert.Equal(t, want.Phone, c.Phone, "caller's Phone after Create")
	assert.Equal(t, want.Orders[0].Address, c.Orders[0].Address, "caller's order address after Create")
	born, ok := c.Born.Get()
	assert.True(t, ok && born.Equal(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)), "caller's Born after Create = %v", c.Born)
	assert.True(t, strings.HasPrefix(c.EmailIdx, "tl1i:"), "caller's EmailIdx after Create = %q, want the blind index", c.EmailIdx)
	assert.Equal(t, c.EmailIdx, e.rawCell(t, "email_idx", "c1"), "EmailIdx in the struct and the row")
	assert.Empty(t, e.rawCell(t, "notes", "c1"), "redact column written")
	assert.Equal(t, "GB", e.rawCell(t, "country", "c1"), "unprotected column")

	var got Customer
	require.NoError(t, e.db.Preload("Orders").First(&got, "id = ?", "c1").Error)
	assert.Equal(t, "Ada Lovelace", got.Name)
	assert.Equal(t, "ada@example.com", got.Email)
	assert.Equal(t, "12 Analytical St", got.Orders[0].Address, "preloaded order revealed")
	assert.True(t, strings.HasPrefix(got.Phone, "tl1h:"), "Phone = %q, want its pseudonym", got.Phone)
	born, ok = got.Born.Get()
	assert.True(t, ok && born.Equal(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)), "Born = %v", got.Born)
}

// TestWritePaths runs every write path over a stored customer and proves,
// from the raw rows and the log, that no plaintext was written, and that
// the record reads back with the new values.
func testWritePaths(t *testing.T, open opener) {
	tests := []struct {
		name      string
		write     func(db *gorm.DB, c *Customer) error
		wantName  string
		wantEmail string
		wantFound int64 // customers with wantEmail
	}{
		{"Updates map by field name", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).Updates(map[string]any{"Name": "A. M. Turing"}).Error
		}, "A. M. Turing", "ada@example.com", 1},
		{"Updates map by column", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).Updates(map[string]any{"name": "A. M. Turing", "email": "alan@example.com"}).Error
		}, "A. M. Turing", "alan@example.com", 1},
		{"Update column", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).Update("email", "alan@example.com").Error
		}, "Ada Lovelace", "alan@example.com", 1},
		{"UpdateColumn", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).UpdateColumn("name", "A. M. Turing").Error
		}, "A. M. Turing", "ada@example.com", 1},
		{"Updates struct", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).Updates(Customer{Name: "A. M. Turing"}).Error
		}, "A. M. Turing", "ada@example.com", 1},
		{"Save", func(db *gorm.DB, c *Customer) error {
			c.Name, c.Email = "A. M. Turing", "alan@example.com"
			return db.Save(c).Error
		}, "A. M. Turing", "alan@example.com", 1},
		{"Save new", func(db *gorm.DB, c *Customer) error {
			n := customer("c2")
			n.Name = "A. M. Turing"
			n.Orders = nil
			return db.Save(&n).Error
		}, "Ada Lovelace", "ada@example.com", 2},
		{"Transaction", func(db *gorm.DB, c *Customer) error {
			return db.Transaction(func(tx *gorm.DB) error {
				return tx.Model(c).Update("name", "A. M. Turing").Error
			})
		}, "A. M. Turing", "ada@example.com", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := open(t)
			c := customer("c1")
			require.NoError(t, e.db.Create(&c).Error)
			require.NoError(t, tt.write(e.db, &c))
			e.assertNoPlaintext(t, tt.name)
			if tt.wantName != "Ada Lovelace" {
				assert.Equal(t, tt.wantName, c.Name, "caller's Name after the write")
			}

			var got Customer
			require.NoError(t, e.db.First(&got, "id = ?", "c1").Error)
			assert.Equal(t, tt.wantName, got.Name, "Name read back")
			assert.Equal(t, tt.wantEmail, got.Email, "Email read back")
			var n int64
			require.NoError(t, e.db.Model(&Customer{}).Scopes(e.pl.Lookup(Customer{}, "EmailIdx", strings.ToUpper(tt.wantEmail))).Count(&n).Error)
			assert.Equal(t, tt.wantFound, n, "customers found through the blind index of the email read back")
		})
	}
}

func testRefused(t *testing.T, open opener) {
	tests := []struct {
		name   string
		write  func(db *gorm.DB, c *Customer) error
		reason string
	}{
		{"expression", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).Update("name", gorm.Expr("? || ?", "A. M.", " Turing")).Error
		}, "an SQL expression cannot be protected"},
		{"slice of records", func(db *gorm.DB, c *Customer) error {
			cs := []Customer{*c}
			return db.Model(&cs).Update("name", "A. M. Turing").Error
		}, "one value cannot be bound to many records"},
		{"no record ID", func(db *gorm.DB, c *Customer) error {
			return db.Model(&Customer{}).Where("country = ?", "GB").Update("name", "A. M. Turing").Error
		}, "aad=ID needs the record's ID in the model"},
		{"wrong type", func(db *gorm.DB, c *Customer) error {
			return db.Model(c).Update("born", "1815-12-10").Error
		}, "a string is not a pii.Value[time.Time]"},
		{"upsert with a literal", func(db *gorm.DB, c *Customer) error {
			n := customer("c1")
			n.Orders = nil
			return db.Clauses(clause.OnConflict{DoUpdates: clause.Assignments(map[string]any{"name": "A. M. Turing"})}).Create(&n).Error
		}, "the literal would be written as given"},
		{"create without ID", func(db *gorm.DB, c *Customer) error {
			n := customer("")
			n.Orders = nil
			return db.Create(&n).Error
		}, "aad=ID is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := open(t)
			c := customer("c1")
			require.NoError(t, e.db.Create(&c).Error)
			before := e.rawCell(t, "name", "c1")
			e.log.Reset()
			err := tt.write(e.db, &c)
			require.Error(t, err, tt.reason)
			assert.ErrorIs(t, err, tillidgorm.ErrRefused, tt.reason)
			for _, pt := range plaintexts {
				assert.NotContains(t, err.Error(), pt, "the error shows a value")
			}
			e.assertNoPlaintext(t, tt.name)
			assert.Equal(t, before, e.rawCell(t, "name", "c1"), "a refused statement changed the row")
		})
	}
}

func testCreateInBatches(t *testing.T, open opener) {
	e := open(t)
	cs := make([]Customer, 25)
	for i := range cs {
		cs[i] = customer(fmt.Sprintf("c%02d", i))
		cs[i].Orders = nil
	}
	require.NoError(t, e.db.CreateInBatches(&cs, 10).Error)
	e.assertNoPlaintext(t, "CreateInBatches")
	for i := range cs {
		assert.Equal(t, "Ada Lovelace", cs[i].Name, "caller's record %d after CreateInBatches", i)
	}
	var got []Customer
	require.NoError(t, e.db.Order("id").Find(&got).Error)
	require.Len(t, got, 25)
	for i := range got {
		assert.Equal(t, "Ada Lovelace", got[i].Name, "record %d read back", i)
	}
	var found []Customer
	require.NoError(t, e.db.Scopes(e.pl.Lookup(Customer{}, "Email", "ada@example.com")).Find(&found).Error)
	assert.Len(t, found, 25, "deterministic lookup")
}

func testCreateMap(t *testing.T, open opener) {
	e := open(t)
	require.NoError(t, e.db.Model(&Customer{}).Create(map[string]any{"ID": "c1", "Name": "Ada Lovelace", "Email": "ada@example.com"}).Error)
	e.assertNoPlaintext(t, "Create map")
	var got Customer
	require.NoError(t, e.db.First(&got, "id = ?", "c1").Error)
	assert.Equal(t, "Ada Lovelace", got.Name)
	assert.NotEmpty(t, got.EmailIdx, "the blind index derived from a map create")
}

// TestLookupAcrossRotation finds rows written before and after a rotation
// of the blind-index key.
func testLookupAcrossRotation(t *testing.T, open opener) {
	e := open(t)
	ctx := context.Background()
	a := customer("a")
	require.NoError(t, e.db.Create(&a).Error)
	_, err := e.ks.Rotate(ctx, "default", keys.KindPRF)
	require.NoError(t, err)
	b := customer("b")
	require.NoError(t, e.db.Create(&b).Error)
	require.NotEqual(t, a.EmailIdx, b.EmailIdx, "the rotation changed the index key")

	var got []Customer
	require.NoError(t, e.db.Scopes(e.pl.Lookup(Customer{}, "EmailIdx", " Ada@Example.com ")).Order("id").Find(&got).Error)
	require.Len(t, got, 2, "rows before and after the rotation")
	assert.Equal(t, "Ada Lovelace", got[0].Name)

	require.Error(t, e.db.Scopes(e.pl.Lookup(Customer{}, "Name", "Ada Lovelace")).Find(&got).Error, "lookup on an encrypt field")
}

func testFindIntoPopulatedStruct(t *testing.T, open opener) {
	e := open(t)
	c := customer("c1")
	require.NoError(t, e.db.Create(&c).Error)
	// c.Orders still holds plaintext from the Create; reading c again must
	// not try to reveal it.
	require.NoError(t, e.db.First(&c, "id = ?", "c1").Error)
	assert.Equal(t, "Ada Lovelace", c.Name)
	assert.Equal(t, "12 Analytical St", c.Orders[0].Address)
}

func testSizeTooSmall(t *testing.T, open opener) {
	type Short struct {
		ID    string `gorm:"primaryKey"`
		Email string `gorm:"size:64" pii:"encrypt"`
		Idx   string `gorm:"size:20" pii:"index=Email"`
	}
	e := open(t)
	err := e.pl.AutoMigrate(e.db, &Short{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "maxlen", "the error tells the fix")
	err = e.db.Create(&Short{ID: "x", Email: "ada@example.com"}).Error
	assert.ErrorIs(t, err, tillidgorm.ErrRefused, "a write to a column too small")
}

func TestValueColumnIsText(t *testing.T) {
	e := openSQLite(t)
	var typ string
	require.NoError(t, e.raw.QueryRow("SELECT type FROM pragma_table_info('customers') WHERE name = 'born'").Scan(&typ))
	assert.Equal(t, "text", strings.ToLower(typ), "column type of a pii.Value[time.Time]")
}

// TestWithoutPluginLeaks is the control of assertNoPlaintext: the same
// Create without the plugin writes plaintext, and the check sees it.
func TestWithoutPluginLeaks(t *testing.T) {
	var buf bytes.Buffer
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "plain.db")), &gorm.Config{Logger: logger.New(log.New(&buf, "", 0), logger.Config{LogLevel: logger.Info})})
	require.NoError(t, err)
	require.NoError(t, db.AutoMigrate(&Customer{}, &Order{}, &Note{}))
	c := customer("c1")
	c.Born = pii.Value[time.Time]{}
	require.NoError(t, db.Create(&c).Error)
	raw, err := db.DB()
	require.NoError(t, err)
	defer raw.Close()
	var r recorder
	(&env{db: db, raw: raw, log: &buf}).assertNoPlaintext(&r, "control")
	assert.True(t, r.failed, "assertNoPlaintext did not see the plaintext written without the plugin")
}

// testPartialSelect reads some columns only: the others stay empty, and the
// selected ones reveal.
func testPartialSelect(t *testing.T, open opener) {
	e := open(t)
	c := customer("c1")
	require.NoError(t, e.db.Create(&c).Error)
	var cs []Customer
	require.NoError(t, e.db.Select("id", "name").Find(&cs).Error)
	require.Len(t, cs, 1)
	assert.Equal(t, "Ada Lovelace", cs[0].Name)
	assert.Empty(t, cs[0].Email, "a column not selected")
	assert.Empty(t, cs[0].EmailIdx, "a blind index not selected")
	var one Customer
	require.NoError(t, e.db.Omit("name").First(&one, "id = ?", "c1").Error)
	assert.Equal(t, "ada@example.com", one.Email)
	assert.Empty(t, one.Name, "an omitted column")

	// A row whose protected column is NULL (written past the plugin) reads
	// as empty, not as an error.
	require.NoError(t, e.db.Exec("UPDATE customers SET phone = NULL WHERE id = ?", "c1").Error)
	var got Customer
	require.NoError(t, e.db.First(&got, "id = ?", "c1").Error)
	assert.Empty(t, got.Phone)
	assert.Equal(t, "Ada Lovelace", got.Name)
}

// TestParallelReveal reads enough flat records for the parallel reveal,
// then one tampered record: the query fails and no record is revealed.
func TestParallelReveal(t *testing.T) {
	e := openWithPlugin(t, sqlite.Open(filepath.Join(t.TempDir(), "par.db")), tillidgorm.WithParallelism(2))
	require.NoError(t, e.pl.AutoMigrate(e.db, &BenchCustomer{}))
	cs := benchProtected(0)[:300]
	require.NoError(t, e.db.Create(&cs).Error)
	var got []BenchCustomer
	require.NoError(t, e.db.Order("id").Find(&got).Error)
	require.Len(t, got, 300)
	for i := range got {
		require.Equal(t, cs[i].Name, got[i].Name, "record %d", i)
	}

	var ptrs []*BenchCustomer
	require.NoError(t, e.db.Order("id").Find(&ptrs).Error)
	require.Len(t, ptrs, 300)
	assert.Equal(t, cs[299].Name, ptrs[299].Name, "a slice of pointers read through the pipeline")

	var batch []BenchCustomer
	seen := 0
	require.NoError(t, e.db.Order("id").FindInBatches(&batch, 128, func(tx *gorm.DB, n int) error {
		for i := range batch {
			if batch[i].Name != cs[seen+i].Name {
				return fmt.Errorf("batch %d record %d: %q", n, i, batch[i].Name)
			}
		}
		seen += len(batch)
		return nil
	}).Error)
	assert.Equal(t, 300, seen, "records in batches")

	// A join is scanned first and revealed in parts after.
	join := func() *gorm.DB {
		return e.db.Joins("JOIN bench_customers b2 ON b2.id = bench_customers.id").Order("bench_customers.id")
	}
	var joined []BenchCustomer
	require.NoError(t, join().Find(&joined).Error)
	require.Len(t, joined, 300)
	assert.Equal(t, cs[299].Name, joined[299].Name, "a join revealed in parts")

	var names []string
	require.NoError(t, e.db.Model(&BenchCustomer{}).Order("id").Pluck("name", &names).Error)
	require.Len(t, names, 300)
	assert.Equal(t, cs[299].Name, names[299], "a Pluck read through the pipeline")

	// Move record 0's name into the last record: it is bound to another ID.
	require.NoError(t, e.db.Exec("UPDATE bench_customers SET name = (SELECT name FROM bench_customers WHERE id = ?) WHERE id = ?", cs[0].ID, cs[299].ID).Error)
	var bad []BenchCustomer
	err := e.db.Order("id").Find(&bad).Error
	require.ErrorIs(t, err, pii.ErrDecryption, "a ciphertext moved to another record")
	require.Len(t, bad, 300)
	assert.True(t, strings.HasPrefix(bad[0].Name, "tl1e:"), "all or nothing: record 0 of a failed read is %q", bad[0].Name)
	var badPtrs []*BenchCustomer
	require.ErrorIs(t, e.db.Order("id").Find(&badPtrs).Error, pii.ErrDecryption)
	require.Len(t, badPtrs, 300)
	assert.True(t, strings.HasPrefix(badPtrs[0].Name, "tl1e:"), "all or nothing through pointers: record 0 is %q", badPtrs[0].Name)
	var badJoined []BenchCustomer
	require.ErrorIs(t, join().Find(&badJoined).Error, pii.ErrDecryption)
	require.Len(t, badJoined, 300)
	assert.True(t, strings.HasPrefix(badJoined[0].Name, "tl1e:"), "all or nothing in parts: record 0 is %q", badJoined[0].Name)
	var badNames []string
	require.ErrorIs(t, e.db.Model(&BenchCustomer{}).Order("id").Pluck("name", &badNames).Error, pii.ErrDecryption)
	assert.Empty(t, badNames, "a failed Pluck")
}

// testPlaintextConditionsRefused: a struct or map condition on a protected
// column would compare it with plaintext (and log it): refused; the stored
// form, as from Lookup, is accepted.
func testPlaintextConditionsRefused(t *testing.T, open opener) {
	e := open(t)
	c := customer("c1")
	require.NoError(t, e.db.Create(&c).Error)
	e.log.Reset()
	tests := []struct {
		name string
		run  func() error
	}{
		{"First struct", func() error { var x Customer; return e.db.Where(&Customer{Email: "ada@example.com"}).First(&x).Error }},
		{"Find map", func() error {
			var x []Customer
			return e.db.Where(map[string]any{"name": "Ada Lovelace"}).Find(&x).Error
		}},
		{"Not", func() error {
			var x []Customer
			return e.db.Not(map[string]any{"email": "ada@example.com"}).Find(&x).Error
		}},
		{"Count", func() error {
			var n int64
			return e.db.Model(&Customer{}).Where(&Customer{Email: "ada@example.com"}).Count(&n).Error
		}},
		{"Delete", func() error { return e.db.Where(&Customer{Email: "ada@example.com"}).Delete(&Customer{}).Error }},
		{"Update where", func() error {
			return e.db.Model(&Customer{}).Where(&Customer{Email: "ada@example.com"}).Update("country", "DK").Error
		}},
		// Through db.Table and in other spellings of the column.
		{"Table Find", func() error {
			var rows []map[string]any
			return e.db.Table("customers").Where(map[string]any{"name": "Ada Lovelace"}).Find(&rows).Error
		}},
		{"quoted column", func() error {
			var x []Customer
			return e.db.Where(map[string]any{"`email`": "ada@example.com"}).Find(&x).Error
		}},
		{"qualified column", func() error {
			var x []Customer
			return e.db.Where(map[string]any{"customers.email": "ada@example.com"}).Find(&x).Error
		}},
		{"Table Delete", func() error {
			return e.db.Table("customers").Where(map[string]any{"Email": "ada@example.com"}).Delete(&CustomerLite{}).Error
		}},
		{"Table Update where", func() error {
			return e.db.Table("customers").Where(map[string]any{"email": "ada@example.com"}).Update("country", "DK").Error
		}},
	}
	for _, tt := range tests {
		err := tt.run()
		assert.ErrorIs(t, err, tillidgorm.ErrRefused, tt.name)
	}
	e.assertNoPlaintext(t, "refused conditions")
	var n int64
	require.NoError(t, e.db.Model(&Customer{}).Count(&n).Error)
	assert.EqualValues(t, 1, n, "the refused Delete deleted nothing")
	var x Customer
	require.NoError(t, e.db.Where(&Customer{Email: mustStored(t, e, "Email", "ada@example.com")}).First(&x).Error, "a condition with the stored form")
	assert.Equal(t, "Ada Lovelace", x.Name)
}

func mustStored(t *testing.T, e *env, field, v string) string {
	terms, err := e.p.LookupTerms(context.Background(), Customer{}, field, v)
	require.NoError(t, err)
	return terms[0]
}

// Note is a model with an auto-increment ID and no aad=: the ID GORM reads
// back after the insert must reach the caller's struct.
type Note struct {
	ID        uint      `gorm:"primaryKey"`
	Body      string    `pii:"encrypt,class=health"`
	CreatedAt time.Time `pii:"-"`
}

func testAutoIncrementAndPointers(t *testing.T, open opener) {
	e := open(t)
	require.NoError(t, e.pl.AutoMigrate(e.db, &Note{}))
	n := Note{Body: "private note"}
	require.NoError(t, e.db.Create(&n).Error)
	assert.NotZero(t, n.ID, "the auto-increment ID after Create")
	assert.False(t, n.CreatedAt.IsZero(), "the timestamp GORM set")
	assert.Equal(t, "private note", n.Body)

	ns := []*Note{{Body: "private note"}, {Body: "private note"}}
	require.NoError(t, e.db.Create(&ns).Error)
	assert.NotZero(t, ns[1].ID, "IDs of a []*Note")
	assert.Equal(t, "private note", ns[1].Body)
	e.assertNoPlaintext(t, "auto-increment")
	var raw string
	require.NoError(t, e.db.Raw("SELECT body FROM notes WHERE id = ?", ns[1].ID).Scan(&raw).Error)
	assert.True(t, strings.HasPrefix(raw, "tl1e:"), "stored %q", raw)

	var got []Note
	require.NoError(t, e.db.Order("id").Find(&got).Error)
	require.Len(t, got, 3)
	assert.Equal(t, "private note", got[2].Body)
}

// TestPipelineChunkBoundaries reads results around the pipeline's chunk
// size (64): every record comes back once, in order, revealed, into a new
// slice and into one the caller made with room.
func TestPipelineChunkBoundaries(t *testing.T) {
	e := openWithPlugin(t, sqlite.Open(filepath.Join(t.TempDir(), "chunks.db")), tillidgorm.WithParallelism(3))
	require.NoError(t, e.pl.AutoMigrate(e.db, &BenchCustomer{}))
	all := benchProtected(0)[:130]
	require.NoError(t, e.db.Create(&all).Error)
	for _, n := range []int{0, 1, 63, 64, 65, 128, 129, 130} {
		for _, room := range []bool{false, true} {
			var got []BenchCustomer
			if room {
				got = make([]BenchCustomer, 3, 200)
			}
			require.NoError(t, e.db.Order("id").Limit(n).Find(&got).Error, "n=%d", n)
			require.Len(t, got, n, "records read, n=%d room=%v", n, room)
			for i := range got {
				require.Equal(t, all[i].ID, got[i].ID, "order, n=%d", n)
				require.Equal(t, all[i].Name, got[i].Name, "revealed, n=%d record %d", n, i)
			}
		}
	}
}

// TestOtherQueryCallbackKept: a gorm:query replaced before the plugin (a
// cache, a replica router) still runs every query, the flat slices the
// plugin would pipeline included, and the results are revealed.
func TestOtherQueryCallbackKept(t *testing.T) {
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "other.db")), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	var calls int
	require.NoError(t, db.Callback().Query().Replace("gorm:query", func(db *gorm.DB) {
		calls++
		callbacks.Query(db)
	}))
	p, _ := newProtector(t)
	pl := tillidgorm.New(p, tillidgorm.WithParallelism(2))
	require.NoError(t, db.Use(pl))
	require.NoError(t, pl.AutoMigrate(db, &BenchCustomer{}))
	cs := benchProtected(0)[:200]
	require.NoError(t, db.Create(&cs).Error)
	var got []BenchCustomer
	require.NoError(t, db.Order("id").Find(&got).Error)
	assert.Equal(t, 1, calls, "the replaced gorm:query ran")
	require.Len(t, got, 200)
	assert.Equal(t, cs[199].Name, got[199].Name, "revealed")
}
