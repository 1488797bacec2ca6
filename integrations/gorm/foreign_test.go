package tillidgorm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
)

// CustomerRow is a tagged struct of some of Customer's columns, with
// Customer's tags: rows of Customer reveal into it through Customer.
type CustomerRow struct {
	ID   string
	Name string `pii:"encrypt,class=identity,aad=ID"`
}

// CustomerRowOtherTag has Customer's name column under another pii tag:
// the stored names cannot be revealed into it.
type CustomerRowOtherTag struct {
	ID   string
	Name string `pii:"encrypt,aad=ID"`
}

// testOtherTaggedType reads rows of Customer into tagged structs of other
// types: revealed through Customer when their protected fields are
// Customer's, refused with an error that says why otherwise.
func testOtherTaggedType(t *testing.T, open opener) {
	e := open(t)
	a, b := customer("c1"), customer("c2")
	b.Name, b.Orders = "A. M. Turing", nil
	require.NoError(t, e.db.Create(&a).Error)
	require.NoError(t, e.db.Create(&b).Error)

	tests := []struct {
		name   string
		read   func() ([]string, error)
		want   []string
		reason string
	}{
		{"Scan into a slice", func() ([]string, error) {
			var rows []CustomerRow
			err := e.db.Model(&Customer{}).Select("id, name").Order("id").Scan(&rows).Error
			return rowNames(rows), err
		}, []string{"Ada Lovelace", "A. M. Turing"}, "same column, type and tag as Customer.Name"},
		{"Scan into pointers", func() ([]string, error) {
			var rows []*CustomerRow
			err := e.db.Model(&Customer{}).Select("id, name").Order("id").Scan(&rows).Error
			var names []string
			for _, r := range rows {
				names = append(names, r.Name)
			}
			return names, err
		}, []string{"Ada Lovelace", "A. M. Turing"}, ""},
		{"Scan into a struct", func() ([]string, error) {
			var row CustomerRow
			err := e.db.Model(&Customer{}).Where("id = ?", "c2").Scan(&row).Error
			return []string{row.Name}, err
		}, []string{"A. M. Turing"}, "every column selected; those CustomerRow lacks are skipped"},
		{"Find into a slice", func() ([]string, error) {
			var rows []CustomerRow
			err := e.db.Model(&Customer{}).Select("id, name").Order("id").Find(&rows).Error
			return rowNames(rows), err
		}, []string{"Ada Lovelace", "A. M. Turing"}, ""},
		{"Scan without the record ID", func() ([]string, error) {
			var rows []CustomerRow
			err := e.db.Model(&Customer{}).Select("name").Order("id").Scan(&rows).Error
			return rowNames(rows), err
		}, nil, "the name is bound to the ID (aad=ID), which was not selected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			if tt.want == nil {
				require.Error(t, err, tt.reason)
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.want, got, tt.reason)
		})
	}

	var rows []CustomerRowOtherTag
	err := e.db.Model(&Customer{}).Select("id, name").Order("id").Scan(&rows).Error
	require.ErrorIs(t, err, tillidgorm.ErrRefused, "another pii tag: the stored names cannot be revealed")
	assert.Contains(t, err.Error(), "differ in their pii tags", "the error says what differs")
	assert.Contains(t, err.Error(), "scan into Customer", "and what to do")
	for _, pt := range plaintexts {
		assert.NotContains(t, err.Error(), pt)
	}
	for _, r := range rows {
		assert.NotContains(t, []string{"Ada Lovelace", "A. M. Turing"}, r.Name, "a refused read leaves no plaintext")
	}
	e.assertNoPlaintext(t, "other tagged type")
}

func rowNames(rows []CustomerRow) []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	return names
}
