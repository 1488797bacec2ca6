package tillidgorm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm/clause"

	"github.com/tillid/tillid/pii"
)

// Member holds its protected values through pointers, slices and a nested
// struct: the plugin must protect copies of them, never the caller's.
type Member struct {
	ID    string      `gorm:"primaryKey" pii:"-"`
	Nick  *string     `pii:"encrypt,aad=ID"`
	Raw   []byte      `pii:"-"`
	Alts  []string    `gorm:"serializer:json" pii:"encrypt,aad=ID"`
	Phone *pii.Text   `pii:"encrypt"`
	Home  *MemberHome `gorm:"serializer:json"`
}

// MemberHome is a nested struct with protected fields behind pointers.
type MemberHome struct {
	Street *string  `pii:"encrypt"`
	Lines  []string `pii:"encrypt"`
}

// memberSecrets are the plaintexts of testCallerMemoryKept.
var memberSecrets = []string{"shared-nick", "555-1234", "alt1", "alt2", "alt3", "third", "1 Main St", "Flat 2"}

// testCallerMemoryKept writes records that share pointees with each other
// and with the caller's variables through every write path, and proves that
// the caller's memory keeps its plaintext, that a variable can be reused for
// the next record, and that the raw rows hold no plaintext.
func testCallerMemoryKept(t *testing.T, open opener) {
	e := open(t)
	require.NoError(t, e.pl.AutoMigrate(e.db, &Member{}))
	shared, street := "shared-nick", "1 Main St"
	ph := pii.Text("555-1234")
	alts := []string{"alt1"}
	home := &MemberHome{Street: &street, Lines: []string{"Flat 2"}}
	raw := []byte("raw bytes")
	keep := func(what string) {
		t.Helper()
		assert.Equal(t, "shared-nick", shared, "%s: the caller's *string", what)
		assert.Equal(t, pii.Text("555-1234"), ph, "%s: the caller's *pii.Text", what)
		assert.Equal(t, []string{"alt1"}, alts, "%s: the caller's []string", what)
		assert.Equal(t, "1 Main St", street, "%s: the nested struct's *string", what)
		assert.Equal(t, []string{"Flat 2"}, home.Lines, "%s: the nested struct's []string", what)
		assert.Equal(t, "raw bytes", string(raw), "%s: the caller's []byte", what)
	}

	m1 := Member{ID: "m1", Nick: &shared, Raw: raw, Alts: alts, Phone: &ph, Home: home}
	require.NoError(t, e.db.Create(&m1).Error)
	keep("Create")
	assert.Same(t, &shared, m1.Nick, "the caller's struct keeps its own pointer")
	assert.Same(t, home, m1.Home)

	// The same variables for the next records.
	require.NoError(t, e.db.Create(&Member{ID: "m2", Nick: &shared, Alts: alts, Phone: &ph, Home: home}).Error, "a second record sharing the first one's pointees")
	keep("Create of a second record")
	batch := []*Member{{ID: "m3", Nick: &shared, Phone: &ph}, {ID: "m4", Nick: &shared, Phone: &ph, Home: home}, {ID: "m5", Nick: &shared, Alts: alts}}
	require.NoError(t, e.db.CreateInBatches(batch, 2).Error)
	keep("CreateInBatches")

	require.NoError(t, e.db.Save(&Member{ID: "m2", Nick: &shared, Alts: []string{"alt2"}, Phone: &ph, Home: home}).Error, "Save of a serializer field")
	keep("Save")
	third := "third"
	require.NoError(t, e.db.Model(&Member{ID: "m3"}).Updates(Member{Nick: &third, Alts: alts}).Error)
	assert.Equal(t, "third", third, "Updates(struct): the caller's *string")
	keep("Updates(struct)")
	require.NoError(t, e.db.Model(&Member{ID: "m4"}).Updates(map[string]any{"nick": &third, "alts": alts}).Error)
	assert.Equal(t, "third", third, "Updates(map): the caller's *string")
	keep("Updates(map)")
	require.NoError(t, e.db.Model(&Member{ID: "m5"}).Update("nick", &third).Error)
	assert.Equal(t, "third", third, "Update: the caller's *string")
	require.NoError(t, e.db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"nick", "alts"}),
	}).Create(&Member{ID: "m1", Nick: &third, Alts: []string{"alt3"}, Phone: &ph}).Error)
	assert.Equal(t, "third", third, "upsert: the caller's *string")
	require.NoError(t, e.db.Model(&Member{}).Create(map[string]any{"id": "m6", "nick": &shared, "alts": alts}).Error)
	keep("Create(map)")
	require.NoError(t, e.db.Save(&Member{ID: "m7", Nick: &shared, Alts: alts, Phone: &ph, Home: home}).Error, "Save of a new record inserts it")
	keep("Save of a new record")

	e.assertAbsent(t, "caller memory", []string{"members"}, memberSecrets)
	var got []Member
	require.NoError(t, e.db.Order("id").Find(&got).Error)
	require.Len(t, got, 7)
	tests := []struct {
		id, nick string
		alts     []string
		reason   string
	}{
		{"m1", "third", []string{"alt3"}, "upserted"},
		{"m2", "shared-nick", []string{"alt2"}, "saved"},
		{"m3", "third", []string{"alt1"}, "Updates(struct)"},
		{"m4", "third", []string{"alt1"}, "Updates(map)"},
		{"m5", "third", []string{"alt1"}, "Update"},
		{"m6", "shared-nick", []string{"alt1"}, "Create(map)"},
		{"m7", "shared-nick", []string{"alt1"}, "Save of a new record"},
	}
	for i, tt := range tests {
		require.Equal(t, tt.id, got[i].ID)
		require.NotNil(t, got[i].Nick, tt.id)
		assert.Equal(t, tt.nick, *got[i].Nick, "%s: %s", tt.id, tt.reason)
		assert.Equal(t, tt.alts, got[i].Alts, "%s: %s", tt.id, tt.reason)
	}
	require.NotNil(t, got[3].Home)
	require.NotNil(t, got[3].Home.Street)
	assert.Equal(t, "1 Main St", *got[3].Home.Street, "the nested struct reads back")
	require.NotNil(t, got[1].Phone)
	assert.Equal(t, pii.Text("555-1234"), *got[1].Phone)
}
