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
	return &progress{w: w, bar: newBar(w, "rewrap "+table)}
}

// newBar returns a bar counting rows when w is a terminal, else nil.
func newBar(w io.Writer, description string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return nil
	}
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
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

// rowProgress shows how a streaming command advances: a bar counting rows
// when standard error is a terminal, and otherwise a line per batch, at
// most one a second, and a last one at the end.
type rowProgress struct {
	w        io.Writer
	name     string
	bar      *progressbar.ProgressBar
	last     time.Time
	rowsDone int64
	bad      int64
	rate     float64
	dirty    bool
}

func newRowProgress(w io.Writer, name string) *rowProgress {
	return &rowProgress{w: w, name: name, bar: newBar(w, name)}
}

// rows reports the rows written and left out so far, and the rate.
func (p *rowProgress) rows(done, bad int64, rate float64) {
	p.rowsDone, p.bad, p.rate, p.dirty = done, bad, rate, true
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s: %d bad rows", p.name, bad))
		p.bar.Set64(done)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= time.Second {
		p.last, p.dirty = now, false
		fmt.Fprintf(p.w, "%s: %d rows, %d bad, %.0f rows/s\n", p.name, done, bad, rate)
	}
}

// finish ends the bar on its own line, or writes the last line; it may be
// called more than once.
func (p *rowProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
		return
	}
	if p.dirty {
		p.dirty = false
		fmt.Fprintf(p.w, "%s: %d rows, %d bad, %.0f rows/s\n", p.name, p.rowsDone, p.bad, p.rate)
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
