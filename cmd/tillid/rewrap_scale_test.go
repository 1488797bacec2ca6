package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// TestRewrapWorkersScale reports rows per second of one rewrap job on
// PostgreSQL done by 1, 2 and 4 workers at once (one encrypt column bound
// to the row and one deterministic column per row, batches of 500), beside
// its floors: the same rewrap by hand in one goroutine (SELECT, RewrapStored,
// and in a transaction per batch one UPDATE per row, or one UPDATE ... FROM
// (VALUES ...) for the batch, the statement shape the job uses; no leases
// and no compare-and-set).
// Workers are goroutines with their own connections and key stores, as
// processes would have. With TILLID_SPEED=1 the table has 40,000 rows,
// otherwise 4,000; no rate is asserted, since the machine is shared.
//
//	TILLID_SPEED=1 go test -count=1 -run TestRewrapWorkersScale -v ./cmd/tillid/
func TestRewrapWorkersScale(t *testing.T) {
	n := 4000
	if os.Getenv("TILLID_SPEED") == "1" {
		n = 40000
	}
	raw := masterKey(t)
	d := postgresRewrapDB(t)
	app := d.openKey(t, raw)
	p, err := pii.New(app)
	require.NoError(t, err)
	_, err = d.db.Exec(`CREATE TABLE people (id BIGINT PRIMARY KEY, email TEXT, phone TEXT)`)
	require.NoError(t, err)
	tx, err := d.db.Begin()
	require.NoError(t, err)
	for i := range int64(n) {
		cu := customer{ID: i + 1, Email: fmt.Sprintf("p%d@example.com", i), Phone: fmt.Sprint(i)}
		require.NoError(t, p.Protect(ctx, &cu))
		_, err := tx.Exec(`INSERT INTO people VALUES ($1, $2, $3)`, cu.ID, cu.Email, cu.Phone)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	rotate := func() {
		for _, kind := range []string{"aead", "daead"} {
			code, _, errOut := cli(t, "keys", "rotate", "-keyset-db", d.dsn, "-kind", kind, "default")
			require.Equal(t, exitOK, code, "rotate: %s", errOut)
		}
	}
	args := []string{"rewrap", "-wait=false", "-keyset-db", d.dsn, "-db", d.dsn, "-table", "people", "-key-column", "id", "-batch", "500",
		"-column", "email=customer.Email:aad", "-column", "phone=customer.Phone:deterministic"}

	// The floor: one goroutine, by hand.
	rotate()
	kek, _ := keys.NewLocalKEK(raw)
	fresh, err := keys.OpenPostgres(ctx, d.db, kek)
	require.NoError(t, err)
	fp, err := pii.New(fresh)
	require.NoError(t, err)
	colE, colP := pii.Column{Type: "customer", Field: "Email", Action: pii.ActionEncrypt, RecordField: "ID"}, pii.Column{Type: "customer", Field: "Phone", Action: pii.ActionDeterministic}
	// byHand rewraps the batches lo, lo+step, lo+2*step, ... of 500 rows,
	// with one UPDATE per row, or per batch when batched.
	byHand := func(first, step int64, batched bool) {
		for lo := first; lo < int64(n); lo += step {
			rows, err := d.db.Query(`SELECT id, email, phone FROM people WHERE id > $1 AND id <= $2 ORDER BY id`, lo, lo+500)
			require.NoError(t, err)
			type up struct {
				id    int64
				email string
				phone string
			}
			var ups []up
			for rows.Next() {
				var u up
				require.NoError(t, rows.Scan(&u.id, &u.email, &u.phone))
				u.email, _, err = fp.RewrapStored(ctx, colE, strconv.FormatInt(u.id, 10), u.email)
				require.NoError(t, err)
				u.phone, _, err = fp.RewrapStored(ctx, colP, "", u.phone)
				require.NoError(t, err)
				ups = append(ups, u)
			}
			require.NoError(t, rows.Err())
			tx, err := d.db.Begin()
			require.NoError(t, err)
			if batched && len(ups) > 0 {
				var tuples []string
				var args []any
				for _, u := range ups {
					tuples = append(tuples, fmt.Sprintf("($%d::bigint, $%d::text, $%d::text)", len(args)+1, len(args)+2, len(args)+3))
					args = append(args, u.id, u.email, u.phone)
				}
				_, err := tx.Exec(`UPDATE people AS t SET email = v.e, phone = v.p FROM (VALUES `+strings.Join(tuples, ", ")+`) AS v(id, e, p) WHERE t.id = v.id`, args...)
				require.NoError(t, err)
				ups = nil
			}
			for _, u := range ups {
				_, err := tx.Exec(`UPDATE people SET email = $1, phone = $2 WHERE id = $3`, u.email, u.phone, u.id)
				require.NoError(t, err)
			}
			require.NoError(t, tx.Commit())
		}
	}
	start := time.Now()
	byHand(0, 500, false)
	perRow := float64(n) / time.Since(start).Seconds()
	t.Logf("floor (by hand, 1 goroutine, an UPDATE per row): %d rows in %v: %.0f rows/s", n, time.Since(start).Round(time.Millisecond), perRow)
	rotate()
	start = time.Now()
	byHand(0, 500, true)
	floor := float64(n) / time.Since(start).Seconds()
	t.Logf("floor (by hand, 1 goroutine, an UPDATE per batch): %d rows in %v: %.0f rows/s (%.2fx an UPDATE per row)", n, time.Since(start).Round(time.Millisecond), floor, floor/perRow)
	// The floor with 2 goroutines, each on every other batch: what this
	// machine gives two workers without any job table.
	rotate()
	start = time.Now()
	var hw sync.WaitGroup
	for g := range int64(2) {
		hw.Add(1)
		go func() { defer hw.Done(); byHand(g*500, 1000, true) }()
	}
	hw.Wait()
	floor2 := float64(n) / time.Since(start).Seconds()
	t.Logf("floor (by hand, 2 goroutines, an UPDATE per batch): %d rows in %v: %.0f rows/s (%.2fx 1 goroutine)", n, time.Since(start).Round(time.Millisecond), floor2, floor2/floor)

	rates := map[int]float64{}
	for _, workers := range []int{1, 2, 4} {
		rotate()
		codes := make([]int, workers)
		outs := make([]bytes.Buffer, workers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[w] = run(ctx, args, &outs[w], &outs[w])
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		total := 0
		var each []int
		for w := range workers {
			require.Equal(t, exitOK, codes[w], "worker %d:\n%s", w, outs[w].String())
			each = append(each, runRows(t, outs[w].String()))
			total += each[w]
		}
		require.Equal(t, n, total, "%d workers did %d rows of %d", workers, total, n)
		for w := range workers {
			t.Logf("worker %d: %s", w, finalRowsLine(outs[w].String()))
		}
		rates[workers] = float64(n) / elapsed.Seconds()
		t.Logf("%d workers: %d rows in %v: %.0f rows/s (%.2fx one worker, %.2fx the floor of an UPDATE per batch, %.2fx the floor of an UPDATE per row); rows per worker %v", workers, n, elapsed.Round(time.Millisecond), rates[workers], rates[workers]/rates[1], rates[workers]/floor, rates[workers]/perRow, each)
	}
}

// finalRowsLine returns the last line of a job's output that says done.
func finalRowsLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "done") {
			return lines[i]
		}
	}
	return ""
}
