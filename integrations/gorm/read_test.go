package tillidgorm_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/pii"
)

// Untagged is a struct without pii tags over the customers table: what a
// Raw Scan into it reads is the stored form.
type Untagged struct {
	ID   string
	Name string
}

// testReadPaths reads two stored customers through every GORM read path
// and checks that each either hands back plaintext (the paths the plugin
// reveals) or the stored forms (the paths it cannot know, which fail closed
// in the caller's Reveal), or is refused; the raw rows and the log show no
// plaintext throughout.
func testReadPaths(t *testing.T, open opener) {
	e := open(t)
	a, b := customer("c1"), customer("c2")
	b.Name, b.Orders = "A. M. Turing", nil
	require.NoError(t, e.db.Create(&a).Error)
	require.NoError(t, e.db.Create(&b).Error)
	born := time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)
	names := []string{"Ada Lovelace", "A. M. Turing"}
	ctx := context.Background()

	// Each read returns the names (or other strings) it read, in id order.
	tests := []struct {
		name   string
		read   func(db *gorm.DB) ([]string, error)
		want   []string // nil: wantStored
		stored string   // the prefix of every stored form read, when want is nil
		reason string
		warned bool // the log warns of the stored forms read
	}{
		{"Find", func(db *gorm.DB) ([]string, error) {
			var cs []Customer
			err := db.Order("id").Find(&cs).Error
			return customerNames(cs), err
		}, names, "", "the query callbacks reveal", false},
		{"Model.Scan into a slice of the model", func(db *gorm.DB) ([]string, error) {
			var cs []Customer
			err := db.Model(&Customer{}).Order("id").Scan(&cs).Error
			return customerNames(cs), err
		}, names, "", "Scan is revealed through the plugin's logger", false},
		{"Table.Scan", func(db *gorm.DB) ([]string, error) {
			var cs []Customer
			err := db.Table("customers").Order("id").Scan(&cs).Error
			return customerNames(cs), err
		}, names, "", "the destination's type gives the model", false},
		{"Raw.Scan into a struct", func(db *gorm.DB) ([]string, error) {
			var c Customer
			err := db.Raw("SELECT * FROM customers WHERE id = ?", "c2").Scan(&c).Error
			return []string{c.Name}, err
		}, names[1:], "", "a Raw Scan into a tagged struct reveals", false},
		{"Raw.Scan into a slice of pointers", func(db *gorm.DB) ([]string, error) {
			var cs []*Customer
			err := db.Raw("SELECT * FROM customers ORDER BY id").Scan(&cs).Error
			var out []string
			for _, c := range cs {
				out = append(out, c.Name)
			}
			return out, err
		}, names, "", "", false},
		{"Debug().Scan", func(db *gorm.DB) ([]string, error) {
			var cs []Customer
			err := db.Debug().Model(&Customer{}).Order("id").Scan(&cs).Error
			return customerNames(cs), err
		}, names, "", "Debug's logger is the plugin's, in Info mode", false},
		{"Pluck of an aad= column", func(db *gorm.DB) ([]string, error) {
			var out []string
			err := db.Model(&Customer{}).Order("id").Pluck("name", &out).Error
			return out, err
		}, names, "", "the plugin reads each record's ID with it", false},
		{"Pluck by field name", func(db *gorm.DB) ([]string, error) {
			var out []string
			err := db.Model(&Customer{}).Order("id").Pluck("Email", &out).Error
			return out, err
		}, []string{"ada@example.com", "ada@example.com"}, "", "", false},
		{"Pluck of a pii.Value into its type", func(db *gorm.DB) ([]string, error) {
			var out []time.Time
			err := db.Model(&Customer{}).Order("id").Pluck("born", &out).Error
			var s []string
			for _, v := range out {
				s = append(s, v.Format(time.DateOnly))
			}
			return s, err
		}, []string{born.Format(time.DateOnly), born.Format(time.DateOnly)}, "", "", false},
		{"Pluck of a pii.Value into pii.Values", func(db *gorm.DB) ([]string, error) {
			var out []pii.Value[time.Time]
			err := db.Model(&Customer{}).Order("id").Pluck("born", &out).Error
			var s []string
			for _, v := range out {
				tm, _ := v.Get()
				s = append(s, tm.Format(time.DateOnly))
			}
			return s, err
		}, []string{born.Format(time.DateOnly), born.Format(time.DateOnly)}, "", "", false},
		{"Distinct Pluck of a deterministic column", func(db *gorm.DB) ([]string, error) {
			var out []string
			err := db.Model(&Customer{}).Distinct().Pluck("email", &out).Error
			return out, err
		}, []string{"ada@example.com"}, "", "equal values have equal stored forms", false},
		{"Select of one column into strings", func(db *gorm.DB) ([]string, error) {
			var out []string
			err := db.Model(&Customer{}).Select("name").Order("id").Find(&out).Error
			return out, err
		}, names, "", "GORM scans it as a Pluck", false},
		{"Pluck of a blind index", func(db *gorm.DB) ([]string, error) {
			var out []string
			err := db.Model(&Customer{}).Order("id").Pluck("email_idx", &out).Error
			return out, err
		}, nil, "tl1i:", "an index is its stored form, as from Find", false},
		{"Rows and Plugin.ScanRows", func(db *gorm.DB) ([]string, error) {
			return scanRowsNames(db, e.pl.ScanRows)
		}, names, "", "", false},
		{"Rows and db.ScanRows", func(db *gorm.DB) ([]string, error) {
			return scanRowsNames(db, func(db *gorm.DB, rows *sql.Rows, dest any) error { return db.ScanRows(rows, dest) })
		}, nil, "tl1e:", "GORM runs no callback after ScanRows: use Plugin.ScanRows", false},
		{"Raw.Scan into a map", func(db *gorm.DB) ([]string, error) {
			var out []map[string]any
			err := db.Raw("SELECT * FROM customers ORDER BY id").Scan(&out).Error
			var s []string
			for _, m := range out {
				s = append(s, asString(m["name"]))
			}
			return s, err
		}, nil, "tl1e:", "a map says nothing of which columns are protected", true},
		{"Model.Find into maps", func(db *gorm.DB) ([]string, error) {
			var out []map[string]any
			err := db.Model(&Customer{}).Order("id").Find(&out).Error
			var s []string
			for _, m := range out {
				s = append(s, asString(m["name"]))
			}
			return s, err
		}, nil, "tl1e:", "a map says nothing of which columns are protected", true},
		{"Raw.Scan into an untagged struct", func(db *gorm.DB) ([]string, error) {
			var out []Untagged
			err := db.Raw("SELECT id, name FROM customers ORDER BY id").Scan(&out).Error
			var s []string
			for _, u := range out {
				s = append(s, u.Name)
			}
			return s, err
		}, nil, "tl1e:", "no tags, no reveal", true},
		{"Scan in a session with its own logger", func(db *gorm.DB) ([]string, error) {
			var cs []Customer
			err := db.Session(&gorm.Session{Logger: logger.Discard}).Model(&Customer{}).Order("id").Scan(&cs).Error
			return customerNames(cs), err
		}, nil, "tl1e:", "the session's logger is not the plugin's, which Scan needs", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.log.Reset()
			got, err := tt.read(e.db)
			require.NoError(t, err, tt.reason)
			if tt.warned {
				assert.Contains(t, e.log.String(), "stored protected values", "the log warns of a read that put stored forms where the plugin cannot reveal them")
			}
			if tt.want != nil {
				assert.Equal(t, tt.want, got, tt.reason)
			} else {
				require.Len(t, got, 2)
				for _, g := range got {
					assert.True(t, strings.HasPrefix(g, tt.stored), "read %q, want a stored form %s…: %s", g, tt.stored, tt.reason)
				}
			}
			e.assertNoPlaintext(t, tt.name)
		})
	}

	// What the stored-form paths read reveals in the caller's hands.
	var raw Customer
	require.NoError(t, e.db.Session(&gorm.Session{Logger: logger.Discard}).Model(&Customer{}).Where("id = ?", "c1").Scan(&raw).Error)
	require.NoError(t, e.p.Reveal(ctx, &raw))
	assert.Equal(t, "Ada Lovelace", raw.Name, "Reveal after a Scan the plugin did not see")

	refused := []struct {
		name   string
		read   func(db *gorm.DB) error
		reason string
	}{
		{"Distinct Pluck of an aad= column", func(db *gorm.DB) error {
			var out []string
			return db.Model(&Customer{}).Distinct().Pluck("name", &out).Error
		}, "its distinct ciphertexts are not its distinct values"},
		{"Pluck over raw SQL", func(db *gorm.DB) error {
			var out []string
			return db.Model(&Customer{}).Raw("SELECT name FROM customers").Pluck("name", &out).Error
		}, "raw SQL selects what it likes"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, tt.read(e.db), tillidgorm.ErrRefused, tt.reason)
		})
	}
}

// scanRowsNames reads the customers' names through Rows and scan.
func scanRowsNames(db *gorm.DB, scan func(*gorm.DB, *sql.Rows, any) error) ([]string, error) {
	rows, err := db.Model(&Customer{}).Order("id").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c Customer
		if err := scan(db, rows, &c); err != nil {
			return nil, err
		}
		out = append(out, c.Name)
	}
	return out, rows.Err()
}

func customerNames(cs []Customer) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// TestScanRevealFailsClosed tampers with a stored name: Scan and Pluck fail
// with the decryption error and hand back no plaintext of the other rows.
func TestScanRevealFailsClosed(t *testing.T) {
	e := openSQLite(t)
	a, b := customer("c1"), customer("c2")
	b.Name, b.Orders = "A. M. Turing", nil
	require.NoError(t, e.db.Create(&a).Error)
	require.NoError(t, e.db.Create(&b).Error)
	require.NoError(t, e.db.Exec("UPDATE customers SET name = (SELECT name FROM customers WHERE id = ?) WHERE id = ?", "c1", "c2").Error)

	var cs []Customer
	err := e.db.Model(&Customer{}).Order("id").Scan(&cs).Error
	require.ErrorIs(t, err, pii.ErrDecryption, "Scan of a name moved to another record")
	require.Len(t, cs, 2)
	assert.True(t, strings.HasPrefix(cs[0].Name, "tl1e:"), "all or nothing: record 0 of a failed Scan is %q", cs[0].Name)

	var names []string
	err = e.db.Model(&Customer{}).Order("id").Pluck("name", &names).Error
	require.ErrorIs(t, err, pii.ErrDecryption, "Pluck of a name moved to another record")
	assert.Empty(t, names, "a failed Pluck leaves the caller's slice as it was")
}

// TestScanEdges: a Scan that reads no row leaves its destination and the
// model alone, and a statement reused after Rows or Scan is not revealed
// twice.
func TestScanEdges(t *testing.T) {
	e := openSQLite(t)
	c := customer("c1")
	c.Orders = nil
	require.NoError(t, e.db.Create(&c).Error)

	var none Customer
	require.NoError(t, e.db.Model(&c).Where("id = ?", "nobody").Scan(&none).Error, "a Scan of no row")
	assert.Equal(t, "Ada Lovelace", c.Name, "the model of a Scan of no row")
	assert.Empty(t, none.Name)

	tx := e.db.Model(&Customer{}).Where("id = ?", "c1")
	rows, err := tx.Rows()
	require.NoError(t, err)
	require.NoError(t, rows.Close())
	var cs []Customer
	require.NoError(t, tx.Find(&cs).Error, "Find on the statement of a Rows")
	require.Len(t, cs, 1)
	assert.Equal(t, "Ada Lovelace", cs[0].Name)

	tx = e.db.Model(&Customer{}).Where("id = ?", "c1")
	var one Customer
	require.NoError(t, tx.Scan(&one).Error)
	assert.Equal(t, "Ada Lovelace", one.Name)
	var again []Customer
	require.NoError(t, tx.Find(&again).Error, "Find on the statement of a Scan")
	require.Len(t, again, 1)
	assert.Equal(t, "Ada Lovelace", again[0].Name)
}
