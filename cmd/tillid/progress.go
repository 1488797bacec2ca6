package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// progress shows how a rewrap advances: a progress bar when standard error
// is a terminal, and one line per batch otherwise (logs, CI, pipes).
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, table string) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("rewrap "+table),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
	}
	return p
}

// update reports the rows done of total, and the values rewrapped and
// skipped so far.
func (p *progress) update(done, total, left, changed, skipped int64, rate float64) {
	total = max(total, done) // rows the application inserts meanwhile are rewrapped too
	if p.bar == nil {
		fmt.Fprintf(p.w, "rewrap: %d/%d rows (%d left), %d values rewrapped, %d skipped, %.0f rows/s\n", done, total, left, changed, skipped, rate)
		return
	}
	if p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	p.bar.Describe(fmt.Sprintf("rewrap: %d values rewrapped, %d skipped", changed, skipped))
	p.bar.Set64(done)
}

// finish ends the bar on its own line; it may be called more than once.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
}

// step reports done of total rows for any bulk job: the bar on a
// terminal, else line on its own line.
func (p *progress) step(done, total int64, line string) {
	if p.bar == nil {
		fmt.Fprintln(p.w, line)
		return
	}
	if total = max(total, done); p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	p.bar.Describe(line)
	p.bar.Set64(done)
}
