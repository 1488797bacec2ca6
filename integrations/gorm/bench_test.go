package tillidgorm_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/pii"
)

// BenchCustomer is a customer as the plugin stores it: five protected
// columns of four kinds.
type BenchCustomer struct {
	ID       string               `gorm:"primaryKey" pii:"-"`
	Name     string               `pii:"encrypt,class=identity,aad=ID"`
	Email    string               `pii:"deterministic,class=contact"`
	EmailIdx string               `pii:"index=Email,normalize=email"`
	Born     pii.Value[time.Time] `pii:"encrypt,class=identity,aad=ID"`
	Phone    string               `pii:"pseudonym"`
	Country  string
}

// PlainCustomer is the same customer with no protection at all: the floor.
type PlainCustomer struct {
	ID       string `gorm:"primaryKey"`
	Name     string
	Email    string
	EmailIdx string
	Born     time.Time
	Phone    string
	Country  string
}

const benchRows = 1000

// benchDBs opens one SQLite database twice: through GORM with the plugin
// and through GORM alone.
func benchDBs(b *testing.B, opts ...tillidgorm.Option) (protected, plain *gorm.DB) {
	protected, plain, _ = benchDBsDSN(b, "", opts...)
	return protected, plain
}

// benchDBsDSN is benchDBs with a DSN suffix (such as SQLite pragmas), and
// also returns the Protector the plugin uses.
func benchDBsDSN(b *testing.B, suffix string, opts ...tillidgorm.Option) (protected, plain *gorm.DB, p *pii.Protector) {
	path := filepath.Join(b.TempDir(), "bench.db") + suffix
	cfg := func() *gorm.Config { return &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: false} }
	protected, err := gorm.Open(sqlite.Open(path), cfg())
	require.NoError(b, err)
	p, _ = newProtector(b)
	pl := tillidgorm.New(p, opts...)
	require.NoError(b, protected.Use(pl))
	require.NoError(b, pl.AutoMigrate(protected, &BenchCustomer{}))
	plain, err = gorm.Open(sqlite.Open(path), cfg())
	require.NoError(b, err)
	require.NoError(b, plain.AutoMigrate(&PlainCustomer{}))
	b.Cleanup(func() {
		for _, db := range []*gorm.DB{protected, plain} {
			if s, err := db.DB(); err == nil {
				s.Close()
			}
		}
	})
	return protected, plain, p
}

func benchProtected(iter int) []BenchCustomer {
	cs := make([]BenchCustomer, benchRows)
	for i := range cs {
		cs[i] = BenchCustomer{
			ID: fmt.Sprintf("%d-%04d", iter, i), Name: fmt.Sprintf("Customer Number %d", i),
			Email: fmt.Sprintf("customer%d@example.com", i), Born: pii.NewValue(time.Date(1980, 1, 1+i%28, 0, 0, 0, 0, time.UTC)),
			Phone: fmt.Sprintf("+45 %08d", i), Country: "DK",
		}
	}
	return cs
}

func benchPlain(iter int) []PlainCustomer {
	cs := make([]PlainCustomer, benchRows)
	for i := range cs {
		cs[i] = PlainCustomer{
			ID: fmt.Sprintf("%d-%04d", iter, i), Name: fmt.Sprintf("Customer Number %d", i),
			Email: fmt.Sprintf("customer%d@example.com", i), Born: time.Date(1980, 1, 1+i%28, 0, 0, 0, 0, time.UTC),
			Phone: fmt.Sprintf("+45 %08d", i), Country: "DK",
		}
	}
	return cs
}

// BenchmarkCreate1000 inserts 1,000 customers in one Create, with the
// plugin and, as the floor, with GORM alone, into the same database.
func BenchmarkCreate1000(b *testing.B) {
	protected, plain := benchDBs(b)
	b.Run("plugin", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cs := benchProtected(i)
			require.NoError(b, protected.Exec("DELETE FROM bench_customers").Error)
			b.StartTimer()
			if err := protected.Create(&cs).Error; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor-gorm", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cs := benchPlain(i)
			require.NoError(b, plain.Exec("DELETE FROM plain_customers").Error)
			b.StartTimer()
			if err := plain.Create(&cs).Error; err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFind1000 reads 1,000 customers in one Find, with the plugin
// (revealing them) and, as the floor, with GORM alone.
func BenchmarkFind1000(b *testing.B) {
	benchFind(b, func(db *gorm.DB) *gorm.DB { return db })
}

// BenchmarkFindSelect1000 reads two columns (one protected) of 1,000
// customers: the plugin fills the protected columns the query left empty
// before revealing. The floor is GORM alone on the same columns.
func BenchmarkFindSelect1000(b *testing.B) {
	benchFind(b, func(db *gorm.DB) *gorm.DB { return db.Select("id", "name") })
}

// benchFind runs query(db).Find of 1,000 customers with the plugin and
// with GORM alone, on one database.
func benchFind(b *testing.B, query func(*gorm.DB) *gorm.DB) {
	protected, plain := benchDBs(b)
	pc, cc := benchProtected(0), benchPlain(0)
	require.NoError(b, protected.Create(&pc).Error)
	require.NoError(b, plain.Create(&cc).Error)
	b.Run("plugin", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var out []BenchCustomer
			if err := query(protected).Find(&out).Error; err != nil || len(out) != benchRows || !strings.HasPrefix(out[1].Name, "Customer Number ") {
				b.Fatal(err, len(out))
			}
		}
	})
	b.Run("floor-gorm", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var out []PlainCustomer
			if err := query(plain).Find(&out).Error; err != nil || len(out) != benchRows {
				b.Fatal(err, len(out))
			}
		}
	})
}

// BenchmarkPaired1000 alternates the plugin and its floor (GORM alone, same
// database) iteration by iteration, so that the load of a shared machine
// falls on both alike, and reports each one's time per 1,000 records and
// their ratio: create (one Create of 1,000) and find (one Find of 1,000),
// with the plugin revealing on one goroutine and on GOMAXPROCS.
func BenchmarkPaired1000(b *testing.B) {
	for _, par := range []int{1, 0} {
		name := "parallel=1"
		if par == 0 {
			name = "parallel=GOMAXPROCS"
		}
		b.Run("find/"+name, func(b *testing.B) {
			protected, plain, p := benchDBsDSN(b, "", tillidgorm.WithParallelism(par))
			pc, cc := benchProtected(0), benchPlain(0)
			require.NoError(b, protected.Create(&pc).Error)
			require.NoError(b, plain.Create(&cc).Error)
			ctx := context.Background()
			b.ReportAllocs()
			var tp, tf, th, cp, cf time.Duration
			for i := 0; i < b.N; i++ {
				start, cpuStart := time.Now(), cpuTime()
				var out []BenchCustomer
				if err := protected.Find(&out).Error; err != nil || len(out) != benchRows {
					b.Fatal(err, len(out))
				}
				mid, cpuMid := time.Now(), cpuTime()
				var plainOut []PlainCustomer
				if err := plain.Find(&plainOut).Error; err != nil || len(plainOut) != benchRows {
					b.Fatal(err, len(plainOut))
				}
				hand, cpuHand := time.Now(), cpuTime()
				cp, cf = cp+cpuMid-cpuStart, cf+cpuHand-cpuMid
				// By hand: GORM alone reads the stored rows, then one
				// Reveal of the slice.
				var stored []BenchCustomer
				if err := plain.Find(&stored).Error; err != nil || len(stored) != benchRows {
					b.Fatal(err, len(stored))
				}
				if err := p.Reveal(ctx, &stored); err != nil {
					b.Fatal(err)
				}
				tp, tf, th = tp+mid.Sub(start), tf+hand.Sub(mid), th+time.Since(hand)
			}
			report(b, tp, tf)
			b.ReportMetric(float64(th.Nanoseconds())/float64(b.N), "byhand-ns/op")
			reportCPU(b, cp, cf)
		})
	}
	for _, sync := range []string{"", "?_pragma=synchronous(OFF)"} {
		name := "create/synchronous=FULL"
		if sync != "" {
			name = "create/synchronous=OFF"
		}
		b.Run(name, func(b *testing.B) { pairedCreate(b, sync) })
	}
}

func pairedCreate(b *testing.B, suffix string) {
	{
		protected, plain, _ := benchDBsDSN(b, suffix)
		b.ReportAllocs()
		var tp, tf time.Duration
		for i := 0; i < b.N; i++ {
			pc, cc := benchProtected(i), benchPlain(i)
			require.NoError(b, protected.Exec("DELETE FROM bench_customers").Error)
			require.NoError(b, plain.Exec("DELETE FROM plain_customers").Error)
			start := time.Now()
			if err := protected.Create(&pc).Error; err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := plain.Create(&cc).Error; err != nil {
				b.Fatal(err)
			}
			tp, tf = tp+mid.Sub(start), tf+time.Since(mid)
		}
		report(b, tp, tf)
	}
}

// reportCPU reports the CPU time (all threads, GC included) of the plugin
// and the floor per operation and their ratio, when the platform measures
// it: valid on a loaded machine, where wall-clock ratios are noise.
func reportCPU(b *testing.B, plugin, floor time.Duration) {
	if floor <= 0 {
		return
	}
	b.ReportMetric(float64(plugin.Nanoseconds())/float64(b.N), "plugin-cpu-ns/op")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(b.N), "floor-cpu-ns/op")
	b.ReportMetric(float64(plugin)/float64(floor), "cpu-ratio")
}

func report(b *testing.B, plugin, floor time.Duration) {
	b.ReportMetric(float64(plugin.Nanoseconds())/float64(b.N), "plugin-ns/op")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(b.N), "floor-ns/op")
	b.ReportMetric(float64(plugin)/float64(floor), "ratio")
}
