package tillidgorm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// Client has associations of every kind GORM saves and loads in
// statements of their own, and an embedded struct, whose columns are the
// client's.
type Client struct {
	ID       string    `gorm:"primaryKey" pii:"-"`
	Name     string    `pii:"encrypt,class=identity,aad=ID"`
	Email    string    `pii:"encrypt,class=contact,aad=ID"`
	Profile  Profile   // has one, by value
	Tags     []Tag     `gorm:"many2many:client_tags"`
	Comments []Comment `gorm:"polymorphic:Owner"`
	Home     Address   `gorm:"embedded;embeddedPrefix:home_"`
}

// Address is embedded in Client: its columns are in the clients table.
type Address struct {
	Street string `pii:"encrypt,class=contact"`
	City   string
}

type Profile struct {
	ID       string `gorm:"primaryKey" pii:"-"`
	ClientID string
	Phone    string `pii:"encrypt,class=contact,aad=ID"`
}

type Tag struct {
	ID    uint   `gorm:"primaryKey"`
	Label string `pii:"deterministic"`
}

type Comment struct {
	ID        uint `gorm:"primaryKey"`
	OwnerID   string
	OwnerType string
	Body      string `pii:"encrypt"`
}

// Purchase belongs to a client, as the user test's Order did.
type Purchase struct {
	ID       uint `gorm:"primaryKey"`
	ClientID string
	Client   Client
	Note     string `pii:"encrypt"`
}

// Shipment belongs to a client through a pointer.
type Shipment struct {
	ID       uint `gorm:"primaryKey"`
	ClientID *string
	Client   *Client
	Label    string `pii:"encrypt"`
}

// assocSecrets are the plaintexts of the association tests.
var assocSecrets = []string{"Grace Hopper", "grace@example.com", "Nine Nines", "nine@example.com", "1 Harvard Yard", "+1 555 0100", "compilers", "a private remark", "note two"}

var assocTables = []string{"clients", "purchases", "profiles", "tags", "comments", "client_tags", "shipments"}

func migrateAssociations(t *testing.T, e *env) {
	t.Helper()
	require.NoError(t, e.pl.AutoMigrate(e.db, &Client{}, &Profile{}, &Tag{}, &Comment{}, &Purchase{}, &Shipment{}))
}

// assertClean fails if a cell of the association tables or GORM's log
// holds one of assocSecrets.
func (e *env) assertClean(t *testing.T, what string) {
	t.Helper()
	e.assertAbsent(t, what, assocTables, assocSecrets)
}

func grace(id string) Client {
	return Client{ID: id, Name: "Grace Hopper", Email: "grace@example.com", Home: Address{Street: "1 Harvard Yard", City: "Cambridge"}}
}

// testAssociations: a belongs-to association that is not set is neither
// protected nor required; a set one is saved protected with its own ID;
// preloaded and joined ones read back revealed, and one not loaded reads
// as zero.
func testAssociations(t *testing.T, open opener) {
	e := open(t)
	migrateAssociations(t, e)
	c30 := grace("c30")
	require.NoError(t, e.db.Create(&c30).Error)

	unset := Purchase{ClientID: "c30", Note: "note two"}
	require.NoError(t, e.db.Create(&unset).Error, "a purchase whose client is not set")
	assert.Equal(t, "note two", unset.Note, "the caller's note after Create")
	assert.Equal(t, Client{}, unset.Client, "Create set the unset association")

	set := Purchase{Client: grace("c20"), Note: "note two"}
	require.NoError(t, e.db.Create(&set).Error, "a purchase with its client filled in")
	assert.Equal(t, "c20", set.ClientID, "GORM's foreign key from the saved client")
	assert.Equal(t, "Grace Hopper", set.Client.Name, "the caller's client after Create")
	e.assertClean(t, "create with associations")

	tests := []struct {
		name       string
		read       func(*gorm.DB, *Purchase) error
		id         uint
		wantClient string // the client's name read back, "" when not loaded
	}{
		{"First", func(db *gorm.DB, p *Purchase) error { return db.First(p, unset.ID).Error }, unset.ID, ""},
		{"Preload unset", func(db *gorm.DB, p *Purchase) error { return db.Preload("Client").First(p, unset.ID).Error }, unset.ID, "Grace Hopper"},
		{"Preload", func(db *gorm.DB, p *Purchase) error { return db.Preload("Client").First(p, set.ID).Error }, set.ID, "Grace Hopper"},
		{"Joins", func(db *gorm.DB, p *Purchase) error { return db.Joins("Client").First(p, set.ID).Error }, set.ID, "Grace Hopper"},
		{"Joins nested preload", func(db *gorm.DB, p *Purchase) error {
			return db.Joins("Client").Preload("Client.Profile").First(p, set.ID).Error
		}, set.ID, "Grace Hopper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Purchase
			require.NoError(t, tt.read(e.db, &p))
			assert.Equal(t, tt.id, p.ID)
			assert.Equal(t, "note two", p.Note)
			assert.Equal(t, tt.wantClient, p.Client.Name, "the client's name")
			if tt.wantClient != "" {
				assert.Equal(t, "grace@example.com", p.Client.Email)
				assert.Equal(t, "1 Harvard Yard", p.Client.Home.Street, "the client's embedded address")
			}
		})
	}

	t.Run("Find Joins", func(t *testing.T) {
		var ps []Purchase
		require.NoError(t, e.db.Joins("Client").Order("purchases.id").Find(&ps).Error)
		require.Len(t, ps, 2)
		for _, p := range ps {
			assert.Equal(t, "Grace Hopper", p.Client.Name, "purchase %d", p.ID)
			assert.Equal(t, "note two", p.Note)
		}
	})
	t.Run("Joins no match", func(t *testing.T) {
		require.NoError(t, e.db.Exec("INSERT INTO purchases (client_id, note) SELECT NULL, note FROM purchases WHERE id = ?", unset.ID).Error)
		var ps []Purchase
		require.NoError(t, e.db.Joins("Client").Where("purchases.client_id IS NULL").Find(&ps).Error, "a left join with no client")
		require.Len(t, ps, 1)
		assert.Equal(t, Client{}, ps[0].Client)
		assert.Equal(t, "note two", ps[0].Note)
	})

	t.Run("Save loaded", func(t *testing.T) {
		var p Purchase
		require.NoError(t, e.db.Preload("Client").First(&p, set.ID).Error)
		p.Note = "a private remark"
		require.NoError(t, e.db.Save(&p).Error)
		e.assertClean(t, "Save with a loaded association")
		var got Purchase
		require.NoError(t, e.db.Joins("Client").First(&got, set.ID).Error)
		assert.Equal(t, "a private remark", got.Note)
		assert.Equal(t, "Grace Hopper", got.Client.Name)
	})
}

// testFirstOrCreate: FirstOrCreate and FirstOrInit with Attrs and Assign
// create protected, read revealed, and update protected.
func testFirstOrCreate(t *testing.T, open opener) {
	e := open(t)
	migrateAssociations(t, e)

	var c Client
	require.NoError(t, e.db.Where(Client{ID: "c9"}).Attrs(Client{Name: "Nine Nines", Email: "nine@example.com"}).FirstOrCreate(&c).Error, "not found: created")
	assert.Equal(t, "Nine Nines", c.Name, "the caller's record after FirstOrCreate")
	e.assertClean(t, "FirstOrCreate")

	var again Client
	res := e.db.Where(Client{ID: "c9"}).Attrs(Client{Name: "Grace Hopper"}).FirstOrCreate(&again)
	require.NoError(t, res.Error, "found")
	assert.Equal(t, "Nine Nines", again.Name, "found and revealed; Attrs not applied")

	var assigned Client
	require.NoError(t, e.db.Where(Client{ID: "c9"}).Assign(Client{Email: "grace@example.com"}).FirstOrCreate(&assigned).Error, "found: Assign updates")
	assert.Equal(t, "grace@example.com", assigned.Email)
	e.assertClean(t, "FirstOrCreate with Assign")
	var got Client
	require.NoError(t, e.db.First(&got, "id = ?", "c9").Error)
	assert.Equal(t, "grace@example.com", got.Email, "the assigned email read back")
	assert.Equal(t, "Nine Nines", got.Name)

	var fresh Client
	require.NoError(t, e.db.Where(Client{ID: "c10"}).Attrs(Client{Name: "Grace Hopper"}).FirstOrInit(&fresh).Error, "FirstOrInit of a missing record")
	assert.Equal(t, "Grace Hopper", fresh.Name)
	assert.Equal(t, "c10", fresh.ID)
	var n int64
	require.NoError(t, e.db.Model(&Client{}).Where("id = ?", "c10").Count(&n).Error)
	assert.Zero(t, n, "FirstOrInit wrote")
	var found Client
	require.NoError(t, e.db.Where(Client{ID: "c9"}).Assign(Client{Name: "Grace Hopper"}).FirstOrInit(&found).Error)
	assert.Equal(t, "Grace Hopper", found.Name, "Assign over a found record")
	assert.Equal(t, "grace@example.com", found.Email, "the rest revealed")
	e.assertClean(t, "FirstOrInit")
}

// testAssociationKinds: has-one, many2many (and its join table),
// polymorphic has-many and embedded columns are protected on create and
// through the Association API, and revealed by Preload and Joins.
func testAssociationKinds(t *testing.T, open opener) {
	e := open(t)
	migrateAssociations(t, e)
	c := grace("k1")
	c.Profile = Profile{ID: "pr1", Phone: "+1 555 0100"}
	c.Tags = []Tag{{Label: "compilers"}}
	c.Comments = []Comment{{Body: "a private remark"}}
	require.NoError(t, e.db.Create(&c).Error)
	assert.Equal(t, "+1 555 0100", c.Profile.Phone, "the caller's has-one after Create")
	assert.Equal(t, "compilers", c.Tags[0].Label, "the caller's many2many after Create")
	assert.Equal(t, "a private remark", c.Comments[0].Body, "the caller's polymorphic after Create")
	e.assertClean(t, "create with every association")

	var got Client
	require.NoError(t, e.db.Preload("Profile").Preload("Tags").Preload("Comments").First(&got, "id = ?", "k1").Error)
	assert.Equal(t, "Grace Hopper", got.Name)
	assert.Equal(t, "1 Harvard Yard", got.Home.Street, "embedded")
	assert.Equal(t, "+1 555 0100", got.Profile.Phone, "has one")
	require.Len(t, got.Tags, 1)
	assert.Equal(t, "compilers", got.Tags[0].Label, "many2many")
	require.Len(t, got.Comments, 1)
	assert.Equal(t, "a private remark", got.Comments[0].Body, "polymorphic")

	var joined Client
	require.NoError(t, e.db.Joins("Profile").First(&joined, "clients.id = ?", "k1").Error)
	assert.Equal(t, "+1 555 0100", joined.Profile.Phone, "has one, joined")
	assert.Equal(t, "Grace Hopper", joined.Name)

	buy := Purchase{ClientID: "k1", Note: "note two"}
	require.NoError(t, e.db.Create(&buy).Error)
	var nested Purchase
	require.NoError(t, e.db.Joins("Client.Profile").First(&nested, buy.ID).Error, "a nested join")
	assert.Equal(t, "Grace Hopper", nested.Client.Name, "the joined client")
	assert.Equal(t, "+1 555 0100", nested.Client.Profile.Phone, "the client's joined profile")
	assert.Equal(t, "note two", nested.Note)

	require.NoError(t, e.db.Model(&got).Association("Comments").Append(&Comment{Body: "note two"}))
	require.NoError(t, e.db.Model(&got).Association("Tags").Replace([]Tag{{Label: "compilers"}}))
	require.NoError(t, e.db.Model(&got).Update("home_street", "1 Harvard Yard").Error, "an embedded column by name")
	e.assertClean(t, "Association API")
	var comments []Comment
	// In id order: without ORDER BY, PostgreSQL returns rows in heap
	// order, which the upsert of the existing comment by Append may change.
	require.NoError(t, e.db.Model(&got).Order("id").Association("Comments").Find(&comments))
	require.Len(t, comments, 2)
	assert.Equal(t, "note two", comments[1].Body)
}

// testPointerAssociation: a belongs-to through a pointer, nil or set, on
// create, Preload and Joins.
func testPointerAssociation(t *testing.T, open opener) {
	e := open(t)
	migrateAssociations(t, e)
	none := Shipment{Label: "note two"}
	require.NoError(t, e.db.Create(&none).Error, "a nil association")
	c := grace("s1")
	set := Shipment{Client: &c, Label: "note two"}
	require.NoError(t, e.db.Create(&set).Error, "a set association")
	assert.Equal(t, "Grace Hopper", set.Client.Name, "the caller's client after Create")
	e.assertClean(t, "pointer association")

	var ss []Shipment
	require.NoError(t, e.db.Joins("Client").Order("shipments.id").Find(&ss).Error)
	require.Len(t, ss, 2)
	assert.Nil(t, ss[0].Client, "a left join that matched nothing")
	require.NotNil(t, ss[1].Client)
	assert.Equal(t, "Grace Hopper", ss[1].Client.Name, "joined")
	assert.Equal(t, "note two", ss[1].Label)

	var p []Shipment
	require.NoError(t, e.db.Preload("Client").Order("id").Find(&p).Error)
	require.Len(t, p, 2)
	require.NotNil(t, p[1].Client)
	assert.Equal(t, "grace@example.com", p[1].Client.Email, "preloaded")

	// A full save of the associations upserts them from their inserted
	// values (excluded.col): protected.
	p[1].Client.Email = "nine@example.com"
	require.NoError(t, e.db.Session(&gorm.Session{FullSaveAssociations: true}).Save(&p[1]).Error)
	e.assertClean(t, "FullSaveAssociations")
	var got Client
	require.NoError(t, e.db.First(&got, "id = ?", "s1").Error)
	assert.Equal(t, "nine@example.com", got.Email, "the association's update read back")
}
