package tillidgorm_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tillidgorm "github.com/tillid/tillid/integrations/gorm"
	"github.com/tillid/tillid/pii"
)

// Tripped is a flat record the pipelined reveal reads, with a column whose
// Scan cancels the query's context at a chosen row: a Find cancelled
// midway, at a known row, with no timing involved.
type Tripped struct {
	ID    string   `gorm:"primaryKey" pii:"-"`
	Name  string   `pii:"encrypt,class=identity,aad=ID"`
	Email string   `pii:"deterministic,class=contact"`
	Wire  tripwire // not personal data
}

// tripwire cancels trip.cancel when the trip.at-th row is scanned (counted
// from 1; 0: never), or fails that row's scan when trip.fail. Rows are
// scanned on the goroutine that runs the query.
type tripwire string

var trip struct {
	at, n  atomic.Int64
	fail   atomic.Bool
	cancel atomic.Pointer[context.CancelFunc]
}

var errTripped = errors.New("tripwire: scan failed")

func (w *tripwire) Scan(src any) error {
	switch s := src.(type) {
	case string:
		*w = tripwire(s)
	case []byte:
		*w = tripwire(s)
	}
	if n := trip.n.Add(1); n == trip.at.Load() {
		if trip.fail.Load() {
			return errTripped
		}
		if c := trip.cancel.Load(); c != nil {
			(*c)()
		}
	}
	return nil
}

// armTrip makes the at-th row scanned from now on cancel the returned
// context.
func armTrip(t *testing.T, at int) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	trip.fail.Store(false)
	trip.n.Store(0)
	trip.at.Store(int64(at))
	trip.cancel.Store(&cancel)
	return ctx
}

// pluginGoroutines returns the stacks of the goroutines running code of the
// plugin (its reveal workers), other than the caller. A worker is started
// and waited for within the statement, so none may be left when it
// returns. Unlike runtime.NumGoroutine, this does not count
// database/sql's goroutine per Rows, which ends on its own after Close.
func pluginGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "tillid/integrations/gorm.") && !strings.Contains(g, "pluginGoroutines") {
			out = append(out, g)
		}
	}
	return out
}

// testPipelineAllOrNothing reads 64, 65 and 128 records (one chunk, one
// past it, two chunks) through the pipelined reveal: in full, cancelled at
// a row in the middle, and with a ciphertext moved to another record. A
// read either reveals every record or fails with none revealed, and leaves
// no goroutine of the plugin behind.
func testPipelineAllOrNothing(t *testing.T, open opener) {
	e := open(t, tillidgorm.WithParallelism(3))
	require.NoError(t, e.pl.AutoMigrate(e.db, &Tripped{}))
	revealed := func(r Tripped) bool { return strings.HasPrefix(r.Name, "Name of ") }
	for _, n := range []int{64, 65, 128} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			require.NoError(t, e.db.Where("1 = 1").Delete(&Tripped{}).Error)
			rs := make([]Tripped, n)
			for i := range rs {
				rs[i] = Tripped{ID: fmt.Sprintf("r%04d", i), Name: fmt.Sprintf("Name of %d", i), Email: fmt.Sprintf("r%d@example.com", i), Wire: "w"}
			}
			require.NoError(t, e.db.Create(&rs).Error)
			require.Empty(t, pluginGoroutines(), "before")

			var all []Tripped
			require.NoError(t, e.db.Order("id").Find(&all).Error)
			require.Len(t, all, n)
			for i := range all {
				require.Equal(t, rs[i].Name, all[i].Name, "record %d", i)
			}
			assert.Empty(t, pluginGoroutines(), "after a full read")

			for _, tt := range []struct {
				name    string
				at      int
				fail    bool // a scan error instead of a cancel
				wantErr error
			}{
				{"cancelled in the first chunk", 10, false, context.Canceled},
				{"cancelled in the middle", n/2 + 1, false, context.Canceled},
				{"cancelled at the last row", n, false, context.Canceled},
				{"a scan error in the middle", n/2 + 1, true, errTripped},
				{"a scan error at the last row", n, true, errTripped},
			} {
				for _, room := range []bool{false, true} {
					ctx := armTrip(t, tt.at)
					trip.fail.Store(tt.fail)
					var got []Tripped
					if room {
						got = make([]Tripped, 0, 2*n)
					}
					err := e.db.WithContext(ctx).Order("id").Find(&got).Error
					trip.at.Store(0)
					require.ErrorIs(t, err, tt.wantErr, "%s (room %v)", tt.name, room)
					for i := range got {
						require.False(t, revealed(got[i]), "%s (room %v): record %d of a cancelled read is revealed", tt.name, room, i)
					}
					assert.Empty(t, pluginGoroutines(), "%s (room %v): goroutines left", tt.name, room)
				}
			}

			// Record 0's name moved into the last record, bound to another ID.
			require.NoError(t, e.db.Exec("UPDATE trippeds SET name = (SELECT name FROM trippeds WHERE id = ?) WHERE id = ?", rs[0].ID, rs[n-1].ID).Error)
			var bad []Tripped
			require.ErrorIs(t, e.db.Order("id").Find(&bad).Error, pii.ErrDecryption)
			require.Len(t, bad, n)
			for i := range bad {
				require.False(t, revealed(bad[i]), "record %d of a failed read is revealed", i)
			}
			assert.Empty(t, pluginGoroutines(), "after a failed read")

			// A join is scanned whole, then revealed in parts (128 and up).
			var joined []Tripped
			ctx := armTrip(t, n/2+1)
			err := e.db.WithContext(ctx).Joins("JOIN trippeds t2 ON t2.id = trippeds.id").Order("trippeds.id").Find(&joined).Error
			trip.at.Store(0)
			require.ErrorIs(t, err, context.Canceled, "a cancelled join")
			for i := range joined {
				require.False(t, revealed(joined[i]), "record %d of a cancelled join is revealed", i)
			}
			assert.Empty(t, pluginGoroutines(), "after a cancelled join")
		})
	}
}
