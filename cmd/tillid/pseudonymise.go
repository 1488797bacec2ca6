package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

const pseudonymiseUsage = `Usage: tillid pseudonymise [flags] -column NAME=ACTION ... [-in FILE] [-out FILE]

Pseudonymises a CSV file (with a header row) or a JSON Lines file of objects
for an export, streaming, on every core, keeping the order of the rows.

Every column must be named by -column, or the run is refused before it
writes anything, unless -keep-rest copies the unnamed ones as they are.
ACTION is one of:
  pseudonym[:normalize=RULE][:key=NAME][:bits=N]
                    a keyed pseudonym (HMAC-SHA256 under the PRF keyset NAME,
                    "default" unless given; tl1h:... as pii stores it); equal
                    values give equal pseudonyms, so joins and counts work
  tokenize=DOMAIN[:alphabet=digits|alnum][:keep-last=N][:key=NAME]
                    an FF1 format-preserving token (keys from the PRF keyset
                    tokenize-DOMAIN unless key= is given); tokens keep the
                    length and alphabet and reveal equality
  mask=KIND         pii's display mask KIND (email, phone, card, card-6-4,
                    iban, cpr, ssn, name, first, text, year, month): shows
                    what the mask keeps (a•••@example.com, the card's last
                    four digits), so it is for display, not for anonymity
  generalise=month|year   a date (2006-01-02 or RFC 3339) to 2006-01 or 2006
  generalise=range:N      a number to its range of width N: 37 -> 30-40 (30 <= x < 40)
  redact            an empty value (JSON null)
  drop              leave the column out of the output
  keep              copy the value as it is
Empty values stay empty. JSON Lines objects are written with their keys
sorted; a named key must hold a string, a number or null. A row that cannot be pseudonymised (a malformed CSV
row, a wrong number of fields, a value an action refuses) is reported on
standard error with its line number and left out of the output, never copied
through; the command then exits with status 1.

Flags:
`

// pseudoOpts are the flags of tillid pseudonymise.
type pseudoOpts struct {
	in, out  string
	format   string
	columns  pseudoColumns
	keepRest bool
	workers  int
	batch    int
	maxBad   int
	force    bool // -overwrite: replace an existing -out file
}

// pseudoColumns is the repeatable -column flag.
type pseudoColumns []pseudoColumn

type pseudoColumn struct {
	name   string
	action string // pseudonym, tokenize, generalise, redact, drop, keep
	arg    string // tokenize's domain, generalise's month|year|range:N
	opts   map[string]string
}

func (c *pseudoColumns) String() string { return fmt.Sprint(len(*c)) }

func (c *pseudoColumns) Set(v string) error {
	name, spec, ok := strings.Cut(v, "=")
	if !ok || name == "" || spec == "" {
		return fmt.Errorf("%q: want NAME=ACTION", v)
	}
	parts := strings.Split(spec, ":")
	s := pseudoColumn{name: name, opts: map[string]string{}}
	s.action, s.arg, _ = strings.Cut(parts[0], "=")
	if s.action == "generalize" {
		s.action = "generalise"
	}
	allowed := map[string][]string{
		"pseudonym": {"normalize", "key", "bits"}, "tokenize": {"alphabet", "keep-last", "key"},
		"generalise": {}, "mask": {}, "redact": {}, "drop": {}, "keep": {},
	}
	opts, known := allowed[s.action]
	if !known {
		return fmt.Errorf("%q: unknown action %q; want pseudonym, tokenize=DOMAIN, mask=KIND, generalise=..., redact, drop or keep", v, s.action)
	}
	if s.action == "generalise" && s.arg == "range" && len(parts) > 1 { // generalise=range:N
		s.arg += ":" + parts[1]
		parts = parts[1:]
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(p, "=")
		if !contains(opts, k) {
			return fmt.Errorf("%q: %s takes no option %q", v, s.action, k)
		}
		s.opts[k] = val
	}
	for _, prev := range *c {
		if prev.name == name {
			return fmt.Errorf("column %q named twice", name)
		}
	}
	*c = append(*c, s)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func runPseudonymise(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var sf storeFlags
	var o pseudoOpts
	fs := flag.NewFlagSet("tillid pseudonymise", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), pseudonymiseUsage); fs.PrintDefaults() }
	sf.register(fs)
	fs.StringVar(&o.in, "in", "-", "input `file` (- for standard input)")
	fs.StringVar(&o.out, "out", "-", "output `file` (- for standard output); written beside it and renamed into place when done, so the input is never truncated")
	fs.BoolVar(&o.force, "overwrite", false, "replace an existing -out file when every row was pseudonymised (default: refuse it; with bad rows the output goes to -out's name + .partial)")
	fs.StringVar(&o.format, "format", "", "csv or jsonl (default: from -in's extension, else csv)")
	fs.Var(&o.columns, "column", "`NAME=ACTION[:option...]` for one column (repeat for each)")
	fs.BoolVar(&o.keepRest, "keep-rest", false, "copy columns not named by -column as they are (default: refuse them)")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "goroutines pseudonymising batches")
	fs.IntVar(&o.batch, "batch", 1000, "rows per batch")
	fs.IntVar(&o.maxBad, "max-bad", 100, "stop after this many bad rows (0: no limit)")
	if len(args) > 0 && args[0] == "help" {
		args = []string{"-h"}
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return exitCode(stderr, usagef("pseudonymise takes no arguments, got %q", fs.Args()))
	}
	return exitCode(stderr, pseudonymiseCmd(ctx, &sf, &o, stdout, stderr))
}

func pseudonymiseCmd(ctx context.Context, sf *storeFlags, o *pseudoOpts, stdout, stderr io.Writer) error {
	if len(o.columns) == 0 {
		return usagef("name the columns with -column NAME=ACTION")
	}
	if o.workers < 1 || o.batch < 1 {
		return usagef("-workers and -batch must be at least 1")
	}
	switch o.format {
	case "":
		o.format = "csv"
		if strings.HasSuffix(o.in, ".jsonl") || strings.HasSuffix(o.in, ".ndjson") {
			o.format = "jsonl"
		}
	case "csv", "jsonl":
	default:
		return usagef("-format %q: want csv or jsonl", o.format)
	}
	var provider keys.Provider
	if o.columns.needKeys() {
		st, closeStore, err := sf.open(ctx, stderr, false)
		if err != nil {
			return err
		}
		defer closeStore()
		provider = st
	}
	cols, err := o.columns.compile(provider)
	if err != nil {
		return err
	}
	if err := o.columns.checkKeys(ctx, provider); err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if o.in != "-" {
		f, err := os.Open(o.in)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	out := stdout
	var outFile *os.File
	existed := false // -out names a file that is there already (perhaps -in itself)
	if o.out != "-" {
		_, statErr := os.Stat(o.out)
		existed = statErr == nil
		if existed && !o.force {
			return usagef("-out %s exists; give -overwrite to replace it (the output is written beside it and renamed into place, so -in may be the same file)", o.out)
		}
		// The output goes to a new file in the same directory, renamed over
		// -out only when the run is done: -out naming the input (directly
		// or through a link) never truncates what is still being read, and
		// a run that fails leaves no half-written file.
		f, err := os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".tmp-*")
		if err != nil {
			return err
		}
		outFile = f
		defer func() {
			f.Close()
			os.Remove(f.Name()) // after the rename there is nothing to remove
		}()
		out = f
	}
	prog := newRowProgress(stderr, "pseudonymise")
	defer prog.finish()
	ps := &pseudonymiser{cols: cols, keepRest: o.keepRest, workers: o.workers, batch: o.batch, maxBad: o.maxBad, stderr: stderr, prog: prog}
	var res pseudoResult
	if o.format == "csv" {
		res, err = ps.csv(ctx, in, out)
	} else {
		res, err = ps.jsonl(ctx, in, out)
	}
	prog.finish()
	if err == nil && outFile != nil {
		err = outFile.Close() // 0600, as os.CreateTemp makes it
		switch {
		case err != nil:
		case res.bad > 0 && existed:
			// An existing -out (the input itself, perhaps) is not replaced
			// by an output that lacks rows: they would be lost with it.
			aside := o.out + ".partial"
			if _, serr := os.Stat(aside); serr == nil {
				aside = outFile.Name() + ".partial"
			}
			if err = os.Rename(outFile.Name(), aside); err == nil {
				fmt.Fprintf(stderr, "pseudonymise: %s was NOT replaced, as %d bad rows were left out; the output without them is in %s\n", o.out, res.bad, aside)
			}
		default:
			err = os.Rename(outFile.Name(), o.out)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pseudonymise: %d rows written, %d bad rows left out\n", res.rows, res.bad)
	if res.bad > 0 {
		return fmt.Errorf("%d bad rows were left out of the output; they are listed above", res.bad)
	}
	return nil
}

// checkKeys fails before any row is read when a keyset a column needs is
// not in the store.
func (c pseudoColumns) checkKeys(ctx context.Context, provider keys.Provider) error {
	for _, s := range c {
		name := s.opts["key"]
		switch s.action {
		case "pseudonym":
			if name == "" {
				name = "default"
			}
		case "tokenize":
			if name == "" {
				name = "tokenize-" + s.arg
			}
		default:
			continue
		}
		if _, err := provider.Keyset(ctx, name, keys.KindPRF); err != nil {
			return fmt.Errorf("-column %s: %w", s.name, err)
		}
	}
	return nil
}

func (c pseudoColumns) needKeys() bool {
	for _, s := range c {
		if s.action == "pseudonym" || s.action == "tokenize" {
			return true
		}
	}
	return false
}

// colFunc pseudonymises one value. A value it cannot take is a badValue
// error (the row is bad); any other error stops the run. Neither holds the
// value.
type colFunc func(ctx context.Context, v string) (string, error)

// badValue says why a value cannot be pseudonymised, without the value.
type badValue string

func (b badValue) Error() string { return string(b) }

// pseudoCol is a compiled -column: drop leaves it out, fn nil keeps it.
type pseudoCol struct {
	name   string
	drop   bool
	redact bool
	fn     colFunc
}

func (c pseudoColumns) compile(provider keys.Provider) (map[string]*pseudoCol, error) {
	out := map[string]*pseudoCol{}
	var p *pii.Protector
	for _, s := range c {
		col := &pseudoCol{name: s.name}
		switch s.action {
		case "keep":
		case "drop":
			col.drop = true
		case "redact":
			col.redact = true
			col.fn = func(context.Context, string) (string, error) { return "", nil }
		case "pseudonym":
			if p == nil {
				var err error
				if p, err = pii.New(provider); err != nil {
					return nil, err
				}
			}
			fn, err := pseudonymFunc(p, s)
			if err != nil {
				return nil, usagef("-column %s: %v", s.name, err)
			}
			col.fn = fn
		case "tokenize":
			fn, err := tokenizeFunc(provider, s)
			if err != nil {
				return nil, usagef("-column %s: %v", s.name, err)
			}
			col.fn = fn
		case "mask":
			kind := s.arg
			if _, err := pii.Mask(kind, ""); err != nil {
				return nil, usagef("-column %s: %v", s.name, err)
			}
			col.fn = func(_ context.Context, v string) (string, error) { return pii.Mask(kind, v) }
		case "generalise":
			fn, err := generaliseFunc(s.arg)
			if err != nil {
				return nil, usagef("-column %s: %v", s.name, err)
			}
			col.fn = fn
		}
		out[s.name] = col
	}
	return out, nil
}

// pseudonymFunc makes the pseudonym of a column through pii's pseudonym
// action: a one-field struct type tagged as the options say, whose
// BlindIndexer computes the stored form. The PRF input is bound to that
// type (its literal, with the tag) and field, so a column's pseudonyms
// depend on its options and key, not on its name: two columns with the
// same options give the same pseudonym for the same value, so they join.
func pseudonymFunc(p *pii.Protector, s pseudoColumn) (colFunc, error) {
	tag := "pseudonym"
	for _, k := range []string{"normalize", "key", "bits"} {
		if v, ok := s.opts[k]; ok {
			tag += "," + k + "=" + v
		}
	}
	t := reflect.StructOf([]reflect.StructField{{Name: "Value", Type: reflect.TypeFor[string](), Tag: reflect.StructTag(`pii:"` + tag + `"`)}})
	ix, err := p.BlindIndexer(reflect.New(t).Elem().Interface(), "Value")
	if err != nil {
		// The one-field struct is ours, not the user's: name the option,
		// not its path.
		if fe := (*pii.FieldError)(nil); errors.As(err, &fe) {
			return nil, errors.New(strings.TrimPrefix(fe.Err.Error(), "pii: "))
		}
		return nil, err
	}
	return func(ctx context.Context, v string) (string, error) {
		b, err := ix.BlindIndex(ctx, nil, v)
		return string(b), err
	}, nil
}

func tokenizeFunc(provider keys.Provider, s pseudoColumn) (colFunc, error) {
	alphabet := tokenize.Digits
	switch s.opts["alphabet"] {
	case "", "digits":
	case "alnum":
		alphabet = tokenize.LowerAlphanumeric
	default:
		return nil, fmt.Errorf("alphabet %q: want digits or alnum", s.opts["alphabet"])
	}
	var opts []tokenize.Option
	if v, ok := s.opts["keep-last"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("keep-last=%q: want a count", v)
		}
		opts = append(opts, tokenize.WithVisibleSuffix(n))
	}
	if v, ok := s.opts["key"]; ok {
		opts = append(opts, tokenize.WithKeyName(v))
	}
	f, err := tokenize.NewFPE(provider, s.arg, alphabet, opts...)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, v string) (string, error) {
		tok, _, err := f.Tokenize(ctx, v, nil)
		if errors.Is(err, tokenize.ErrInvalidValue) {
			return "", badValue(fmt.Sprintf("not a value of the %s alphabet of at least %d characters", alphabet, alphabet.MinLength()))
		}
		return tok, err
	}, nil
}

var dateLayouts = []string{time.RFC3339Nano, "2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

func generaliseFunc(arg string) (colFunc, error) {
	switch arg {
	case "month", "year":
		out := "2006-01"
		if arg == "year" {
			out = "2006"
		}
		return func(_ context.Context, v string) (string, error) {
			for _, l := range dateLayouts {
				if t, err := time.Parse(l, v); err == nil {
					return t.Format(out), nil
				}
			}
			return "", badValue("not a date (want 2006-01-02 or RFC 3339)")
		}, nil
	}
	w, ok := strings.CutPrefix(arg, "range:")
	width, okWidth := exactNumber(w)
	if !ok || !okWidth || width.Sign() <= 0 {
		return nil, fmt.Errorf("generalise=%q: want month, year or range:N with N > 0", arg)
	}
	return func(_ context.Context, v string) (string, error) {
		x, ok := exactNumber(strings.TrimSpace(v))
		if !ok {
			return "", badValue("not a number")
		}
		// lo = floor(x / width) × width, in exact rational arithmetic, so
		// that integers beyond 2^53 and decimal widths keep every digit.
		q := new(big.Rat).Quo(x, width)
		fl := new(big.Int).Div(q.Num(), q.Denom()) // Euclidean: floor, as the denominator is positive
		lo := new(big.Rat).Mul(new(big.Rat).SetInt(fl), width)
		hi := new(big.Rat).Add(lo, width)
		return decimalString(lo) + "-" + decimalString(hi), nil
	}, nil
}

// exactNumber parses a decimal number (an integer, a decimal fraction or
// a number with an exponent, as strconv.ParseFloat reads them, of at most
// 64 bytes and magnitude below 1e308) into an exact rational. It refuses
// fractions ("3/4"), NaN, infinities and hexadecimal forms.
func exactNumber(s string) (*big.Rat, bool) {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, "/xXpP_") {
		return nil, false
	}
	if f, err := strconv.ParseFloat(s, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// decimalString writes r as a decimal: an integer as itself, a fraction
// with the fewest digits that read back as the same 256-bit float.
func decimalString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return new(big.Float).SetPrec(256).SetRat(r).Text('f', -1)
}

// withoutBOM drops a leading UTF-8 byte order mark (as spreadsheet
// programs write at the start of a CSV export), so the first header is
// read as its name.
// Other bytes pass through unchanged.
func withoutBOM(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	return br
}

// pseudonymiser runs the pipeline: a reader cuts the input into batches,
// workers pseudonymise them, and the writer writes them in input order.
// At most 2 × workers + 1 batches are in flight, so memory stays constant.
type pseudonymiser struct {
	cols     map[string]*pseudoCol
	keepRest bool
	workers  int
	batch    int
	maxBad   int
	stderr   io.Writer
	prog     *rowProgress
}

type pseudoResult struct{ rows, bad int64 }

// batch is a run of input rows and, once done, their output.
type batch struct {
	seq   int
	rows  [][]string // CSV fields, or one JSON object per row
	lines []int
	out   [][]string
	bad   []badRow
}

type badRow struct {
	line int
	last int // the last input line the row took, when a quoted field ran over several (else 0)
	why  string
}

// plan maps input fields to output columns.
type plan struct {
	cols []*pseudoCol // per input field; nil keeps it (-keep-rest)
}

func (ps *pseudonymiser) planFor(header []string) (plan, []string, error) {
	var pl plan
	var outHeader, unknown []string
	seen := map[string]bool{}
	for _, h := range header {
		if seen[h] {
			return plan{}, nil, fmt.Errorf("the header names column %q twice", h)
		}
		seen[h] = true
		c := ps.cols[h]
		if c == nil && !ps.keepRest {
			unknown = append(unknown, h)
		}
		pl.cols = append(pl.cols, c)
		if c == nil || !c.drop {
			outHeader = append(outHeader, h)
		}
	}
	if len(unknown) > 0 {
		return plan{}, nil, usagef("columns %q are not named by -column: name each (keep, drop, redact, ...) or give -keep-rest", unknown)
	}
	var missing []string
	for name := range ps.cols {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return plan{}, nil, usagef("-column names %q, which the input does not have", missing)
	}
	return pl, outHeader, nil
}

// csv pseudonymises CSV with a header row from in to out.
func (ps *pseudonymiser) csv(ctx context.Context, in io.Reader, out io.Writer) (pseudoResult, error) {
	r := csv.NewReader(withoutBOM(in))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		if err == io.EOF {
			return pseudoResult{}, errors.New("the input is empty; a CSV input starts with a header row")
		}
		return pseudoResult{}, fmt.Errorf("header: %v", err)
	}
	header = append([]string(nil), header...)
	pl, outHeader, err := ps.planFor(header)
	if err != nil {
		return pseudoResult{}, err
	}
	r.FieldsPerRecord = len(header)
	bw := bufio.NewWriterSize(out, 1<<16)
	w := csv.NewWriter(bw)
	if err := w.Write(outHeader); err != nil {
		return pseudoResult{}, err
	}
	read := func(b *batch) (bool, error) {
		for len(b.rows) < ps.batch {
			rec, err := r.Read()
			if err == io.EOF {
				return false, nil
			}
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					return false, err
				}
				// The row is reported and left out; reading goes on at the
				// next record.
				bad := badRow{line: pe.StartLine, why: pe.Err.Error()}
				if pe.Line > pe.StartLine {
					bad.last = pe.Line // an open quote took the lines up to here
				}
				b.bad = append(b.bad, bad)
				b.rows, b.lines = append(b.rows, nil), append(b.lines, pe.StartLine)
				continue
			}
			// FieldPos is defined only after a Read that returned a record.
			line, _ := r.FieldPos(0)
			b.rows, b.lines = append(b.rows, rec), append(b.lines, line)
		}
		return true, nil
	}
	process := func(ctx context.Context, b *batch) error {
		b.out = make([][]string, len(b.rows))
		for i, rec := range b.rows {
			if rec == nil {
				continue
			}
			o, why, err := ps.row(ctx, pl, rec)
			if err != nil {
				return err
			}
			if why != "" {
				b.bad = append(b.bad, badRow{line: b.lines[i], why: why})
				continue
			}
			b.out[i] = o
		}
		return nil
	}
	write := func(b *batch) error {
		for _, o := range b.out {
			if o != nil {
				if err := w.Write(o); err != nil {
					return err
				}
			}
		}
		return nil
	}
	res, err := ps.pipeline(ctx, read, process, write)
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err == nil {
		err = bw.Flush()
	}
	return res, err
}

// row pseudonymises one CSV record. It returns why the row is bad (never
// its values), or an error that stops the run (the key provider failed).
func (ps *pseudonymiser) row(ctx context.Context, pl plan, rec []string) ([]string, string, error) {
	out := make([]string, 0, len(rec))
	for i, v := range rec {
		c := pl.cols[i]
		switch {
		case c == nil || c.fn == nil && !c.drop:
			out = append(out, v)
		case c.drop:
		case v == "":
			out = append(out, "")
		default:
			p, err := c.fn(ctx, v)
			if err != nil {
				var bad badValue
				if errors.As(err, &bad) {
					return nil, fmt.Sprintf("column %s: %v", c.name, bad), nil
				}
				return nil, "", fmt.Errorf("column %s: %w", c.name, err)
			}
			out = append(out, p)
		}
	}
	return out, "", nil
}

// jsonl pseudonymises JSON Lines (one object a line) from in to out. Each
// output object has its keys sorted.
func (ps *pseudonymiser) jsonl(ctx context.Context, in io.Reader, out io.Writer) (pseudoResult, error) {
	sc := bufio.NewScanner(withoutBOM(in))
	sc.Buffer(make([]byte, 0, 1<<16), 16<<20)
	line := 0
	bw := bufio.NewWriterSize(out, 1<<16)
	read := func(b *batch) (bool, error) {
		for len(b.rows) < ps.batch {
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return false, fmt.Errorf("line %d: %v", line+1, err)
				}
				return false, nil
			}
			line++
			if len(strings.TrimSpace(sc.Text())) == 0 {
				continue
			}
			b.rows, b.lines = append(b.rows, []string{sc.Text()}), append(b.lines, line)
		}
		return true, nil
	}
	process := func(ctx context.Context, b *batch) error {
		b.out = make([][]string, len(b.rows))
		for i, r := range b.rows {
			o, why, err := ps.object(ctx, r[0])
			if err != nil {
				return err
			}
			if why != "" {
				b.bad = append(b.bad, badRow{line: b.lines[i], why: why})
				continue
			}
			b.out[i] = []string{o}
		}
		return nil
	}
	write := func(b *batch) error {
		for _, o := range b.out {
			if o != nil {
				bw.WriteString(o[0])
				if err := bw.WriteByte('\n'); err != nil {
					return err
				}
			}
		}
		return nil
	}
	res, err := ps.pipeline(ctx, read, process, write)
	if err == nil {
		err = bw.Flush()
	}
	return res, err
}

// object pseudonymises one JSON object: values of named keys must be
// strings, numbers or null.
func (ps *pseudonymiser) object(ctx context.Context, text string) (string, string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &obj); err != nil || obj == nil {
		return "", "not a JSON object", nil
	}
	out := make(map[string]json.RawMessage, len(obj))
	for k, raw := range obj {
		c := ps.cols[k]
		if c == nil {
			if !ps.keepRest {
				return "", fmt.Sprintf("key %q is not named by -column (name it or give -keep-rest)", k), nil
			}
			out[k] = raw
			continue
		}
		if c.drop {
			continue
		}
		if c.fn == nil {
			out[k] = raw
			continue
		}
		if c.redact || string(raw) == "null" {
			out[k] = json.RawMessage("null")
			continue
		}
		var v string
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &v); err != nil {
				return "", fmt.Sprintf("key %s: not a JSON string", k), nil
			}
		} else if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
			v = string(raw)
		} else {
			return "", fmt.Sprintf("key %s: want a string, a number or null", k), nil
		}
		if v == "" {
			out[k] = raw
			continue
		}
		p, err := c.fn(ctx, v)
		if err != nil {
			var bad badValue
			if errors.As(err, &bad) {
				return "", fmt.Sprintf("key %s: %v", k, bad), nil
			}
			return "", "", fmt.Errorf("key %s: %w", k, err)
		}
		b, _ := json.Marshal(p)
		out[k] = b
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", "cannot encode the object", nil
	}
	return string(b), "", nil
}

// pipeline runs read on the calling side of a reader goroutine, process on
// ps.workers goroutines and write in input order, and reports bad rows and
// progress.
func (ps *pseudonymiser) pipeline(ctx context.Context, read func(*batch) (bool, error), process func(context.Context, *batch) error, write func(*batch) error) (pseudoResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slots := make(chan struct{}, 2*ps.workers+1) // batches in flight
	jobs := make(chan *batch, ps.workers)
	done := make(chan *batch, ps.workers)
	go func() {
		defer close(jobs)
		for seq := 0; ; seq++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			b := &batch{seq: seq, rows: make([][]string, 0, ps.batch)}
			more, err := read(b)
			if err != nil {
				cancel(err)
				return
			}
			if len(b.rows) > 0 || len(b.bad) > 0 {
				jobs <- b
			}
			if !more {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range ps.workers {
		wg.Go(func() {
			for b := range jobs {
				if ctx.Err() == nil {
					if err := process(ctx, b); err != nil {
						cancel(err)
					}
				}
				done <- b
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	var res pseudoResult
	start := time.Now()
	pending := map[int]*batch{}
	next := 0
	for b := range done {
		pending[b.seq] = b
		for {
			b, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-slots
			if ctx.Err() != nil {
				continue
			}
			sort.Slice(b.bad, func(i, j int) bool { return b.bad[i].line < b.bad[j].line })
			for _, bad := range b.bad {
				if bad.last > 0 {
					fmt.Fprintf(ps.stderr, "tillid: pseudonymise: lines %d to %d: %s (a quoted field ran over %d lines); all left out\n", bad.line, bad.last, bad.why, bad.last-bad.line+1)
				} else {
					fmt.Fprintf(ps.stderr, "tillid: pseudonymise: line %d: %s; row left out\n", bad.line, bad.why)
				}
			}
			res.bad += int64(len(b.bad))
			if err := write(b); err != nil {
				cancel(err)
				continue
			}
			res.rows += int64(len(b.rows) - len(b.bad))
			ps.prog.rows(res.rows, res.bad, float64(res.rows)/time.Since(start).Seconds())
			if ps.maxBad > 0 && res.bad >= int64(ps.maxBad) {
				cancel(fmt.Errorf("stopped after %d bad rows (-max-bad)", res.bad))
			}
		}
	}
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}
