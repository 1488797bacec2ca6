package tillidgorm_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
)

// Patient says its purpose and basis once, on a blank field, and has
// unexported fields GORM and pii leave alone: no plugin path may set them
// (reflect cannot) or panic on them.
type Patient struct {
	_        struct{} `pii:"purpose=care,basis=contract"`
	ID       string   `gorm:"primaryKey" pii:"-"`
	WardID   string
	Name     string `pii:"encrypt,class=identity,aad=ID"`
	Email    string `pii:"deterministic,class=contact"`
	EmailIdx string `gorm:"size:33" pii:"index=Email,normalize=email"`
	Country  string
	seen     int
	_        [0]func() // not comparable
	trace              // unexported and embedded: no columns
}

type trace struct{ Hops int }

// Ward has patients (has many) and a struct-level default of its own.
type Ward struct {
	_        struct{} `pii:"purpose=care,basis=contract"`
	ID       string   `gorm:"primaryKey" pii:"-"`
	Label    string   `pii:"encrypt,class=contact,aad=ID"`
	Patients []Patient
	note     string
}

var blankSecrets = []string{"Florence Nightingale", "florence@example.com", "Mary Seacole", "Crimean ward"}

func patient(i int) Patient {
	return Patient{ID: fmt.Sprintf("p%03d", i), WardID: "w1", Name: "Florence Nightingale", Email: "florence@example.com", Country: "GB", seen: i}
}

// testBlankFields runs every plugin path over models with a struct-level
// default (a blank field) and unexported fields, with the pipelined reveal
// on: before the plugin skipped them, the column-only copy panicked.
func testBlankFields(t *testing.T, open opener) {
	e := open(t, tillidgorm.WithParallelism(2))
	require.NoError(t, e.pl.AutoMigrate(e.db, &Patient{}, &Ward{}), "AutoMigrate")
	clean := func(what string) {
		t.Helper()
		e.assertAbsent(t, what, []string{"patients", "wards"}, blankSecrets)
	}

	require.NoError(t, e.db.Create(&Ward{ID: "w1", Label: "Crimean ward"}).Error, "Create of a ward")
	one := patient(0)
	require.NoError(t, e.db.Create(&one).Error, "Create")
	assert.Equal(t, "Florence Nightingale", one.Name, "the caller's struct keeps its plaintext")
	assert.Equal(t, 0, one.seen)
	assert.NotEmpty(t, one.EmailIdx, "the blind index is copied back")
	clean("Create")

	many := make([]Patient, 150)
	for i := range many {
		many[i] = patient(i + 1)
	}
	require.NoError(t, e.db.CreateInBatches(&many, 100).Error, "CreateInBatches")
	assert.Equal(t, 7, many[6].seen, "unexported fields of the caller's records are left as they were")
	clean("CreateInBatches")

	var got []Patient
	require.NoError(t, e.db.Order("id").Find(&got).Error, "Find (pipelined)")
	require.Len(t, got, 151)
	for i := range got {
		require.Equal(t, "Florence Nightingale", got[i].Name, "record %d", i)
	}
	var ptrs []*Patient
	require.NoError(t, e.db.Order("id").Find(&ptrs).Error, "Find of pointers (pipelined)")
	require.Len(t, ptrs, 151)
	assert.Equal(t, "florence@example.com", ptrs[150].Email)

	var first Patient
	require.NoError(t, e.db.First(&first, "id = ?", "p000").Error, "First")
	assert.Equal(t, "Florence Nightingale", first.Name)

	require.NoError(t, e.db.Model(&one).Updates(map[string]any{"name": "Mary Seacole"}).Error, "Updates(map)")
	require.NoError(t, e.db.Model(&one).Update("email", "mary@example.com").Error, "Update")
	upd := patient(1)
	upd.Name = "Mary Seacole"
	require.NoError(t, e.db.Model(&upd).Updates(upd).Error, "Updates(struct)")
	require.NoError(t, e.db.Save(&upd).Error, "Save")
	clean("updates")

	var scanned []Patient
	require.NoError(t, e.db.Model(&Patient{}).Order("id").Limit(2).Scan(&scanned).Error, "Scan")
	require.Len(t, scanned, 2)
	assert.Equal(t, []string{"Mary Seacole", "Mary Seacole"}, []string{scanned[0].Name, scanned[1].Name})

	var names []string
	require.NoError(t, e.db.Model(&Patient{}).Order("id").Limit(3).Pluck("name", &names).Error, "Pluck")
	assert.Equal(t, []string{"Mary Seacole", "Mary Seacole", "Florence Nightingale"}, names)

	ward := Ward{ID: "w2", Label: "Crimean ward", note: "kept", Patients: []Patient{patient(900), patient(901)}}
	require.NoError(t, e.db.Create(&ward).Error, "Create with an association")
	assert.Equal(t, "Crimean ward", ward.Label)
	assert.Equal(t, "kept", ward.note)
	clean("associations")
	var wards []Ward
	require.NoError(t, e.db.Preload("Patients").Where("id = ?", "w2").Find(&wards).Error, "Preload")
	require.Len(t, wards, 1)
	assert.Equal(t, "Crimean ward", wards[0].Label)
	require.Len(t, wards[0].Patients, 2)
	assert.Equal(t, "Florence Nightingale", wards[0].Patients[1].Name)

	// The stored rows still open under the struct-level default.
	var check Patient
	require.NoError(t, e.db.Raw("SELECT * FROM patients WHERE id = ?", "p000").Scan(&check).Error)
	assert.Equal(t, "Mary Seacole", check.Name, "Raw Scan")
}
