package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tillid/tillid/keys"
)

// subjectID is one subject ID of the command line, and where it came from
// ("argument 2", "line 12 of ids.txt"): messages name the place, never the
// ID, which is personal data.
type subjectID struct {
	id    string
	where string
}

// maxBadLines bounds how many bad lines of a -subjects file one message
// lists.
const maxBadLines = 10

// subjectArgs returns the subject IDs of the -subject flags and the
// arguments, or of the file
// ("-" for stdin), each checked by checkSubjectID, without repeats. A file
// holds one ID a line; blank lines and lines whose first character (after
// white space) is '#' are skipped, white space (CR of CRLF line ends
// included) around an ID and a UTF-8 byte-order mark are dropped.
// Arguments are taken exactly as given. Every bad line or argument is a
// usage error naming its place; nothing is erased then.
func subjectArgs(flags, args []string, file string, stdin io.Reader) (ids []subjectID, repeats int, err error) {
	if file == "" {
		if len(flags)+len(args) == 0 {
			return nil, 0, usagef("give the subject IDs as arguments, with -subject ID or with -subjects FILE")
		}
		var bad []string
		for i, a := range slices.Concat(flags, args) {
			where := fmt.Sprintf("argument %d", i+1-len(flags))
			if i < len(flags) {
				where = fmt.Sprintf("-subject %d", i+1)
			}
			if msg := checkSubjectID(a, true); msg != "" {
				bad = append(bad, where+": "+msg)
				continue
			}
			ids = append(ids, subjectID{id: a, where: where})
		}
		if len(bad) > 0 {
			return nil, 0, badSubjects("", bad)
		}
		ids, repeats = withoutRepeats(ids)
		return ids, repeats, nil
	}
	if len(flags)+len(args) > 0 {
		return nil, 0, usagef("give subject IDs as arguments (or -subject) or with -subjects, not both")
	}
	name := file
	r := stdin
	if file == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, 0, usagef("-subjects: %v", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var bad []string
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		s := strings.TrimSpace(text)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		where := fmt.Sprintf("line %d of %s", line, name)
		msg := checkSubjectID(s, false)
		if msg == "" && strings.Contains(s, " #") {
			msg = "looks like an ID followed by a comment: put comments on lines of their own, starting with #"
		}
		if msg != "" {
			bad = append(bad, fmt.Sprintf("line %d: %s", line, msg))
			continue
		}
		ids = append(ids, subjectID{id: s, where: where})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad = append(bad, fmt.Sprintf("line %d: longer than 64 KiB", line+1))
		} else {
			return nil, 0, fmt.Errorf("reading -subjects %s: %w", name, err)
		}
	}
	if len(bad) > 0 {
		return nil, 0, badSubjects("-subjects "+name+": ", bad)
	}
	if len(ids) == 0 {
		return nil, 0, usagef("-subjects %s holds no subject IDs (blank lines and # comments are skipped), nothing was erased", name)
	}
	ids, repeats = withoutRepeats(ids)
	return ids, repeats, nil
}

// badSubjects is the usage error listing the bad places, at most
// maxBadLines of them.
func badSubjects(prefix string, bad []string) error {
	more := ""
	if len(bad) > maxBadLines {
		more = fmt.Sprintf("; and %d more", len(bad)-maxBadLines)
		bad = bad[:maxBadLines]
	}
	return usagef("%sbad subject IDs, nothing was erased: %s%s", prefix, strings.Join(bad, "; "), more)
}

// checkSubjectID returns what is wrong with the subject ID s, or "". An ID
// is 1 to keys.MaxSubjectSize bytes of UTF-8 without control or format
// characters (a tab, a NUL, a zero-width space); an argument (exact)
// must not begin or end with white space either, which is more often a
// quoting slip than part of an ID: the subject key is found by the exact
// ID, so a near miss would erase nobody and still print a receipt.
func checkSubjectID(s string, exact bool) string {
	switch {
	case s == "":
		return "the subject ID is empty"
	case len(s) > keys.MaxSubjectSize:
		return fmt.Sprintf("the subject ID is %d bytes, more than %d", len(s), keys.MaxSubjectSize)
	case !utf8.ValidString(s):
		return "the subject ID is not valid UTF-8"
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return "the subject ID holds a control or invisible character (a tab, a NUL, a zero-width space)"
	case exact && strings.TrimSpace(s) != s:
		return "the subject ID begins or ends with white space (check the quoting)"
	}
	return ""
}

// withoutRepeats drops the repeats of an ID, keeping its first place, and
// returns how many it dropped.
func withoutRepeats(ids []subjectID) ([]subjectID, int) {
	seen := make(map[string]bool, len(ids))
	out := ids[:0]
	for _, s := range ids {
		if seen[s.id] {
			continue
		}
		seen[s.id] = true
		out = append(out, s)
	}
	return out, len(ids) - len(out)
}
