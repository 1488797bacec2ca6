package tillidgorm_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
)

// BenchPointers holds its protected values behind a pointer and in a
// serialized slice, which the plugin copies before protecting.
type BenchPointers struct {
	ID   string   `gorm:"primaryKey" pii:"-"`
	Nick *string  `pii:"encrypt,aad=ID"`
	Alts []string `gorm:"serializer:json" pii:"encrypt,aad=ID"`
}

// PlainPointers is BenchPointers with no protection: the floor.
type PlainPointers struct {
	ID   string `gorm:"primaryKey"`
	Nick *string
	Alts []string `gorm:"serializer:json"`
}

// BenchmarkCreatePointers1000 inserts 1,000 records whose protected values
// sit behind pointers and slices, with the plugin (which protects a deep
// copy of them) and, as the floor, with GORM alone, into the same database.
func BenchmarkCreatePointers1000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	cfg := &gorm.Config{Logger: logger.Discard}
	protected, err := gorm.Open(sqlite.Open(path), cfg)
	require.NoError(b, err)
	p, _ := newProtector(b)
	pl := tillidgorm.New(p)
	require.NoError(b, protected.Use(pl))
	require.NoError(b, pl.AutoMigrate(protected, &BenchPointers{}))
	plain, err := gorm.Open(sqlite.Open(path), &gorm.Config{Logger: logger.Discard})
	require.NoError(b, err)
	require.NoError(b, plain.AutoMigrate(&PlainPointers{}))
	nick := func(i int) *string { s := fmt.Sprintf("nick %d", i); return &s }
	b.Run("plugin", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			rs := make([]BenchPointers, benchRows)
			for j := range rs {
				rs[j] = BenchPointers{ID: fmt.Sprintf("%d-%04d", i, j), Nick: nick(j), Alts: []string{"alt one", "alt two"}}
			}
			require.NoError(b, protected.Exec("DELETE FROM bench_pointers").Error)
			b.StartTimer()
			if err := protected.Create(&rs).Error; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor-gorm", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			rs := make([]PlainPointers, benchRows)
			for j := range rs {
				rs[j] = PlainPointers{ID: fmt.Sprintf("%d-%04d", i, j), Nick: nick(j), Alts: []string{"alt one", "alt two"}}
			}
			require.NoError(b, plain.Exec("DELETE FROM plain_pointers").Error)
			b.StartTimer()
			if err := plain.Create(&rs).Error; err != nil {
				b.Fatal(err)
			}
		}
	})
}
