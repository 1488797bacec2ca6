package main

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
)

// pseudoKeys makes a keyset file with the PRF keysets the tests use and
// returns its path.
func pseudoKeys(t *testing.T) string {
	t.Helper()
	masterKey(t)
	file := filepath.Join(t.TempDir(), "keys.json")
	for _, name := range []string{"default", "tokenize-card"} {
		code, _, errOut := cli(t, "keys", "create", "-keyset-file", file, "-kind", "prf", name)
		require.Equal(t, exitOK, code, "keys create %s: %s", name, errOut)
	}
	return file
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

var exportColumns = []string{
	"-column", "id=keep",
	"-column", "email=pseudonym:normalize=email",
	"-column", "email2=pseudonym:normalize=email",
	"-column", "phone=pseudonym",
	"-column", "card=tokenize=card",
	"-column", "born=generalise=month",
	"-column", "income=generalise=range:10000",
	"-column", "notes=redact",
	"-column", "comment=drop",
}

const exportCSV = `id,email,email2,phone,card,born,income,notes,comment
1,ada@example.com,ADA@example.com ,+45 1234 5678,4111111111111111,1815-12-10,37500,"private, ""quoted""
note",hello
2,alan@example.com,alan@example.com,+44 2222 3333,5500000000000004,1912-06-23T10:00:00Z,120000,,x
`

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	require.NoError(t, err, "output is not CSV: %q", s)
	return recs
}

func TestPseudonymiseCSV(t *testing.T) {
	file := pseudoKeys(t)
	in := writeFile(t, "in.csv", exportCSV)
	args := append([]string{"pseudonymise", "-keyset-file", file, "-in", in}, exportColumns...)
	code, out, errOut := cli(t, args...)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	recs := readCSV(t, out)
	require.Len(t, recs, 3, "header and two rows")
	assert.Equal(t, []string{"id", "email", "email2", "phone", "card", "born", "income", "notes"}, recs[0], "header, comment dropped")
	for _, pt := range []string{"ada@example.com", "alan@", "1234 5678", "4111111111111111", "1815-12-10", "37500", "private", "hello"} {
		assert.NotContains(t, out, pt, "plaintext in the output")
	}
	r1, r2 := recs[1], recs[2]
	assert.Equal(t, "1", r1[0], "kept")
	assert.True(t, strings.HasPrefix(r1[1], "tl1h:"), "pseudonym %q", r1[1])
	assert.Equal(t, r1[1], r1[2], "the same email, normalised, in two columns with the same options")
	assert.Equal(t, r2[1], r2[2])
	assert.NotEqual(t, r1[1], r2[1], "different emails")
	assert.Len(t, r1[4], 16, "an FF1 token keeps the card's length")
	assert.NotEqual(t, "4111111111111111", r1[4])
	assert.Equal(t, "1815-12", r1[5])
	assert.Equal(t, "1912-06", r2[5])
	assert.Equal(t, "30000-40000", r1[6])
	assert.Equal(t, "120000-130000", r2[6])
	assert.Equal(t, "", r1[7], "redacted")

	// The same input again gives the same output: pseudonyms and tokens
	// are keyed and deterministic.
	_, out2, _ := cli(t, args...)
	assert.Equal(t, out, out2)
}

func TestPseudonymiseBadRows(t *testing.T) {
	file := pseudoKeys(t)
	body := "id,email,born\n" +
		"1,ada@example.com,1815-12-10\n" +
		"2,secret-two@example.com,not-a-date-SECRET\n" + // line 3: bad date
		"3,too,many,fields-SECRET\n" + // line 4: field count
		"4,\"broken \"quote-SECRET,1900-01-01\n" + // line 5: bare quote
		"5,eve@example.com,1999-09-09\n"
	in := writeFile(t, "in.csv", body)
	code, out, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in,
		"-column", "id=keep", "-column", "email=pseudonym", "-column", "born=generalise=year")
	assert.Equal(t, exitFailure, code, "bad rows make the run fail; stderr: %s", errOut)
	recs := readCSV(t, out)
	var ids []string
	for _, r := range recs[1:] {
		ids = append(ids, r[0])
	}
	assert.Equal(t, []string{"1", "5"}, ids, "good rows, in order")
	for _, want := range []string{"line 3:", "line 4:", "line 5:", "3 bad rows"} {
		assert.Contains(t, errOut, want)
	}
	assert.NotContains(t, out+errOut, "SECRET", "a bad row's values reached the output or the log")
	assert.NotContains(t, out+errOut, "secret-two", "a bad row's values reached the output or the log")
}

func TestPseudonymiseRefusesUnnamedColumns(t *testing.T) {
	file := pseudoKeys(t)
	in := writeFile(t, "in.csv", "id,email,ssn\n1,ada@example.com,010190-1234\n")
	outPath := filepath.Join(t.TempDir(), "out.csv")
	code, _, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-out", outPath, "-column", "id=keep", "-column", "email=pseudonym")
	assert.Equal(t, exitUsage, code, "an unnamed column: %s", errOut)
	assert.Contains(t, errOut, "ssn")
	b, _ := os.ReadFile(outPath)
	assert.NotContains(t, string(b), "010190", "nothing written in clear")

	code, out, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-keep-rest", "-column", "email=pseudonym")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "010190-1234", "-keep-rest copies the unnamed columns")

	code, _, errOut = cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-keep-rest", "-column", "mail=pseudonym")
	assert.Equal(t, exitUsage, code, "a -column the input lacks: %s", errOut)
}

func TestPseudonymiseOrderAcrossWorkers(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("id,email\n")
	const n = 5000
	for i := range n {
		fmt.Fprintf(&sb, "%d,c%d@example.com\n", i, i)
	}
	ps := benchPseudonymiser(t, 4, 7, []string{"email"})
	var out bytes.Buffer
	res, err := ps.csv(ctx, strings.NewReader(sb.String()), &out)
	require.NoError(t, err)
	assert.EqualValues(t, n, res.rows)
	recs := readCSV(t, out.String())
	require.Len(t, recs, n+1)
	for i, r := range recs[1:] {
		if !assert.Equal(t, fmt.Sprint(i), r[0], "row order") {
			break
		}
	}
}

func TestPseudonymiseJSONL(t *testing.T) {
	file := pseudoKeys(t)
	in := writeFile(t, "in.jsonl", `{"id":1,"email":"ada@example.com","income":37500,"notes":"private","tags":["a"]}
not json SECRET
{"id":2,"email":"ADA@example.com ","income":null,"notes":null,"tags":[]}
{"id":3,"email":"x@example.com","extra":"SECRET"}
`)
	code, out, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in,
		"-column", "id=keep", "-column", "email=pseudonym:normalize=email", "-column", "income=generalise=range:10000",
		"-column", "notes=redact", "-column", "tags=keep")
	assert.Equal(t, exitFailure, code, "two bad lines: %s", errOut)
	assert.Contains(t, errOut, "line 2:")
	assert.Contains(t, errOut, "line 4:")
	assert.NotContains(t, out+errOut, "SECRET")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	var a, b map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &b))
	assert.Equal(t, a["email"], b["email"], "normalised emails pseudonymise alike")
	assert.Equal(t, "30000-40000", a["income"])
	assert.Nil(t, a["notes"], "redacted")
	assert.Nil(t, b["income"], "null stays null")
	assert.Equal(t, []any{"a"}, a["tags"], "kept")
}

// benchPseudonymiser returns a pseudonymiser over an in-memory key store
// with a pseudonym for each of cols and keep for id.
func benchPseudonymiser(t testing.TB, workers, batch int, cols []string) *pseudonymiser {
	var specs pseudoColumns
	require.NoError(t, specs.Set("id=keep"))
	for _, c := range cols {
		require.NoError(t, specs.Set(c+"=pseudonym"))
	}
	compiled, err := specs.compile(keys.NewMemory())
	require.NoError(t, err)
	return &pseudonymiser{cols: compiled, workers: workers, batch: batch, stderr: io.Discard, prog: newRowProgress(io.Discard, "test")}
}

func benchCSV(rows int) []byte {
	var sb bytes.Buffer
	sb.WriteString("id,email,phone,name\n")
	for i := range rows {
		fmt.Fprintf(&sb, "%d,customer%d@example.com,+45 %08d,\"Customer, Number %d\"\n", i, i, i, i)
	}
	return sb.Bytes()
}

// BenchmarkPseudonymise is rows per second through the whole command path
// (CSV in, three pseudonym columns, CSV out) on 1 and 2 workers, beside
// its floor: the same CSV read and written on one goroutine with the
// same HMAC-SHA256 (the keyset's Tink PRF) and base64 by hand.
func BenchmarkPseudonymise(b *testing.B) {
	const rows = 100_000
	in := benchCSV(rows)
	cols := []string{"email", "phone", "name"}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			ps := benchPseudonymiser(b, workers, 1000, cols)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				res, err := ps.csv(ctx, bytes.NewReader(in), io.Discard)
				if err != nil || res.rows != rows {
					b.Fatal(err, res)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run("floor-hmac-by-hand", func(b *testing.B) {
		ks, err := keys.NewMemory().Keyset(ctx, "default", keys.KindPRF)
		require.NoError(b, err)
		prf, err := ks.PRFFor(ks.PrimaryKeyID())
		require.NoError(b, err)
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for i := 0; i < b.N; i++ {
			r := csv.NewReader(bytes.NewReader(in))
			w := csv.NewWriter(io.Discard)
			for {
				rec, err := r.Read()
				if err == io.EOF {
					break
				}
				require.NoError(b, err)
				for j := 1; j < len(rec); j++ {
					mac, err := prf.ComputePRF([]byte(rec[j]), 16)
					if err != nil {
						b.Fatal(err)
					}
					rec[j] = "tl1h:" + base64.RawURLEncoding.EncodeToString(mac)
				}
				w.Write(rec)
			}
			w.Flush()
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

func TestPseudonymiseMask(t *testing.T) {
	in := writeFile(t, "in.csv", "id,email,card\n1,ada@example.com,4111111111111111\n")
	code, out, errOut := cli(t, "pseudonymise", "-in", in, "-column", "id=keep", "-column", "email=mask=email", "-column", "card=mask=card")
	require.Equal(t, exitOK, code, "masks need no keys: %s", errOut)
	recs := readCSV(t, out)
	require.Len(t, recs, 2)
	wantEmail, _ := pii.Mask("email", "ada@example.com")
	wantCard, _ := pii.Mask("card", "4111111111111111")
	assert.Equal(t, []string{"1", wantEmail, wantCard}, recs[1], "pii's masks")
	assert.NotContains(t, out, "ada@", "the masked email shows its local part")

	code, _, errOut = cli(t, "pseudonymise", "-in", in, "-column", "id=keep", "-column", "email=mask=nosuch", "-column", "card=keep")
	assert.Equal(t, exitUsage, code, "an unknown mask: %s", errOut)
}

// TestPseudonymiseMissingKey: a key name that the store does not hold is
// an error before any row is written, not a new key.
func TestPseudonymiseMissingKey(t *testing.T) {
	file := pseudoKeys(t)
	in := writeFile(t, "in.csv", "id,email\n1,ada@example.com\n")
	code, out, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-column", "id=keep", "-column", "email=pseudonym:key=nosuch")
	assert.Equal(t, exitNotFound, code, "stderr: %s", errOut)
	assert.NotContains(t, out, "ada@", "a row written in clear")
	code, list, _ := cli(t, "keys", "list", "-keyset-file", file)
	require.Equal(t, exitOK, code)
	assert.NotContains(t, list, "nosuch", "the store made a key")
}

// TestPseudonymiseMalformedFirstField is a malformed quote in a row's first
// field, and an unterminated quoted field at the end of the input: each is
// reported by line and left out, the good rows before them are written.
func TestPseudonymiseMalformedFirstField(t *testing.T) {
	file := pseudoKeys(t)
	for _, tc := range []struct {
		name, body string
		wantIDs    []string
		wantLine   string
	}{
		{name: "bare quote in the first field", body: "email,id\na@x.com,1\nb\"SECRET@x.com,2\nc@x.com,3\n", wantIDs: []string{"1", "3"}, wantLine: "line 3:"},
		{name: "unterminated quote", body: "email,id\na@x.com,1\n\"SECRET@x.com,2\nc@x.com,3\n", wantIDs: []string{"1"}, wantLine: "lines 3 to 4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeFile(t, "in.csv", tc.body)
			code, out, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-column", "email=pseudonym", "-column", "id=keep")
			assert.Equal(t, exitFailure, code, "bad rows make the run fail; stderr: %s", errOut)
			var ids []string
			for _, r := range readCSV(t, out)[1:] {
				ids = append(ids, r[1])
			}
			assert.Equal(t, tc.wantIDs, ids, "the good rows, in order")
			assert.Contains(t, errOut, tc.wantLine)
			assert.NotContains(t, out+errOut, "SECRET", "a bad row's value reached the output or the log")
		})
	}
}

// TestPseudonymiseBOM reads a CSV export that starts with a UTF-8 byte
// order mark, as spreadsheet programs write it.
func TestPseudonymiseBOM(t *testing.T) {
	file := pseudoKeys(t)
	in := writeFile(t, "in.csv", "\ufeffemail,id\nada@example.com,1\n")
	code, out, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-column", "email=pseudonym", "-column", "id=keep")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	recs := readCSV(t, out)
	assert.Equal(t, []string{"email", "id"}, recs[0], "the header without the byte order mark")
	assert.NotContains(t, out, "ada@example.com")
}

func TestGeneraliseRangeExact(t *testing.T) {
	for _, tc := range []struct{ width, in, want string }{
		{"10", "37", "30-40"},
		{"10", "-5", "-10-0"},
		{"10", "9223372036854775807", "9223372036854775800-9223372036854775810"},
		{"10000", "37500", "30000-40000"},
		{"0.1", "3.75", "3.7-3.8"},
		{"2.5", "-0.1", "-2.5-0"},
		{"1", "1e3", "1000-1001"},
	} {
		fn, err := generaliseFunc("range:" + tc.width)
		require.NoError(t, err)
		got, err := fn(t.Context(), tc.in)
		require.NoError(t, err, "range:%s of %s", tc.width, tc.in)
		assert.Equal(t, tc.want, got, "range:%s of %s", tc.width, tc.in)
	}
	fn, err := generaliseFunc("range:10")
	require.NoError(t, err)
	for _, bad := range []string{"NaN", "Inf", "3/4", "0x10", "1e999", "", "ten"} {
		_, err := fn(t.Context(), bad)
		assert.Error(t, err, "%q is not a number", bad)
	}
	for _, bad := range []string{"range:0", "range:-1", "range:x", "range:1/2"} {
		_, err := generaliseFunc(bad)
		assert.Error(t, err, bad)
	}
}

func TestPseudonymiseOptionErrorNamesTheOption(t *testing.T) {
	file := pseudoKeys(t)
	in := writeFile(t, "in.csv", "email\nx\n")
	code, _, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-column", "email=pseudonym:normalize=emial")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "normalize=emial")
	assert.NotContains(t, errOut, "struct.Value", "the internal one-field struct leaked into the message")
}

// TestPseudonymiseOutNamesTheInput: -out naming the input, directly or
// through a symbolic link, never truncates it; an existing -out is refused
// unless -overwrite, and then replaced only when the run is done.
func TestPseudonymiseOutNamesTheInput(t *testing.T) {
	file := pseudoKeys(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	const body = "id,email\n1,ada@example.com\n"
	require.NoError(t, os.WriteFile(in, []byte(body), 0o600))
	link := filepath.Join(dir, "link.csv")
	require.NoError(t, os.Symlink(in, link))
	for _, out := range []string{in, link} {
		code, _, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-out", out, "-column", "id=keep", "-column", "email=pseudonym")
		assert.Equal(t, exitUsage, code, "an existing -out without -overwrite: %s", errOut)
		assert.Contains(t, errOut, "-overwrite")
		got, err := os.ReadFile(in)
		require.NoError(t, err)
		assert.Equal(t, body, string(got), "the input is untouched")
	}
	code, _, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-out", in, "-overwrite", "-column", "id=keep", "-column", "email=pseudonym")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	got, err := os.ReadFile(in)
	require.NoError(t, err)
	recs := readCSV(t, string(got))
	require.Len(t, recs, 2, "the whole input was read before it was replaced")
	assert.Equal(t, "1", recs[1][0])
	assert.NotContains(t, string(got), "ada@example.com")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp-", "a temporary output file was left behind")
	}
}

// TestPseudonymiseOverwriteKeepsInputOnBadRows: with -overwrite, an -out
// that is the input is not replaced when rows were left out (they would
// be lost); the output goes beside it, and a quoted field that ran over
// several lines is reported with the lines it took.
func TestPseudonymiseOverwriteKeepsInputOnBadRows(t *testing.T) {
	file := pseudoKeys(t)
	for _, tc := range []struct{ name, body, wantErr string }{
		{"bad value", "email,age\na@x.com,37\nb@x.com,notanumber\n", "line 3:"},
		{"open quote", "email,age\n\"a@x.com,37\nb@x.com,5\nc@x.com,6\n", "lines 2 to 4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			require.NoError(t, os.WriteFile(in, []byte(tc.body), 0o600))
			code, _, errOut := cli(t, "pseudonymise", "-keyset-file", file, "-in", in, "-out", in, "-overwrite", "-column", "email=pseudonym", "-column", "age=generalise=range:10")
			assert.Equal(t, exitFailure, code, errOut)
			assert.Contains(t, errOut, tc.wantErr)
			assert.Contains(t, errOut, "was NOT replaced")
			got, err := os.ReadFile(in)
			require.NoError(t, err)
			assert.Equal(t, tc.body, string(got), "the input is kept whole")
			partial, err := os.ReadFile(in + ".partial")
			require.NoError(t, err, "the output is beside it")
			assert.NotContains(t, string(partial), "@x.com")
		})
	}
}
