package pii

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/keys"
)

type action uint8

const (
	actionUnknown action = iota
	actionEncrypt
	actionDeterministic
	actionRedact
	actionSkip
	actionIndex
	actionHash
	actionTokenize
)

func (a action) String() string {
	switch a {
	case actionEncrypt:
		return "encrypt"
	case actionDeterministic:
		return "deterministic"
	case actionRedact:
		return "redact"
	case actionSkip:
		return "-"
	case actionIndex:
		return "index"
	case actionHash:
		return "hash"
	case actionTokenize:
		return "tokenize"
	}
	return "unknown"
}

// Classes are the data categories accepted by the class= option.
var Classes = []string{"contact", "identity", "financial", "health", "national_id", "location", "special"}

// fieldTag is a validated pii tag.
type fieldTag struct {
	action         action
	class          string
	key            string
	aadField       string
	maxLen         int
	migrate        bool
	lowCardinality bool
	// index: the source fields, in order.
	sources   []string
	normalize normalizer
	// bits truncates a blind index or hash; 0 means the default size.
	bits int
	part string
	// tokenize: the domain and the expected token format.
	domain string
	format string
}

// defaultKeyName is the key name of fields without key=.
const defaultKeyName = "default"

// optionsFor lists the options each action accepts.
var optionsFor = map[action][]string{
	actionEncrypt:       {"class", "key", "aad", "maxlen", "migrate"},
	actionDeterministic: {"class", "key", "aad", "maxlen", "migrate", "lowcardinality", "normalize"},
	actionRedact:        {"class"},
	actionSkip:          {},
	actionIndex:         {"class", "key", "normalize", "bits", "part", "lowcardinality"},
	actionHash:          {"class", "key", "normalize", "bits", "lowcardinality"},
	actionTokenize:      {"class", "format", "aad", "migrate"},
}

func parseFieldTag(raw string) (fieldTag, error) {
	t, err := tag.Parse(raw)
	if err != nil {
		return fieldTag{}, fmt.Errorf("%v", err)
	}
	ft := fieldTag{key: defaultKeyName}
	for a := actionEncrypt; a <= actionTokenize; a++ {
		if a.String() == t.Action.Name {
			ft.action = a
		}
	}
	if ft.action == actionUnknown {
		return fieldTag{}, fmt.Errorf("unknown action %q; use encrypt, deterministic, index=<Field>, hash, tokenize=<domain>, redact or -", t.Action.Name)
	}
	switch {
	case ft.action == actionIndex && !t.Action.HasValue:
		return fieldTag{}, fmt.Errorf("index needs its source field, as in index=Email or index=Name+Birthday")
	case ft.action == actionTokenize && !t.Action.HasValue:
		return fieldTag{}, fmt.Errorf("tokenize needs its domain, as in tokenize=card")
	case ft.action == actionTokenize:
		ft.domain = t.Action.Value
	case ft.action == actionIndex:
		ft.sources = strings.Split(t.Action.Value, "+")
		for i, src := range ft.sources {
			if src == "" || slices.Contains(ft.sources[:i], src) {
				return fieldTag{}, fmt.Errorf("index=%s: source fields are distinct field names joined with '+'", t.Action.Value)
			}
		}
	case t.Action.HasValue:
		return fieldTag{}, fmt.Errorf("action %s takes no value (%q)", ft.action, t.Action)
	}
	allowed := optionsFor[ft.action]
	for _, o := range t.Options {
		if !slices.Contains(allowed, o.Name) {
			return fieldTag{}, fmt.Errorf("unknown option %q for %s; it accepts: %s", o.Name, ft.action, strings.Join(allowed, ", "))
		}
		flag := o.Name == "migrate" || o.Name == "lowcardinality"
		if flag && o.HasValue {
			return fieldTag{}, fmt.Errorf("option %s takes no value (%q)", o.Name, o)
		}
		if !flag && !o.HasValue {
			return fieldTag{}, fmt.Errorf("option %s needs a value, as in %s=...", o.Name, o.Name)
		}
		switch o.Name {
		case "class":
			if !slices.Contains(Classes, o.Value) {
				return fieldTag{}, fmt.Errorf("unknown class %q; use one of %s", o.Value, strings.Join(Classes, ", "))
			}
			ft.class = o.Value
		case "key":
			if err := keys.CheckKeyName(o.Value); err != nil {
				return fieldTag{}, fmt.Errorf("key=%s: key names are 1 to 64 characters of a-z, 0-9, '_', '.', '-'", o.Value)
			}
			ft.key = o.Value
		case "aad":
			ft.aadField = o.Value
		case "maxlen":
			n, err := strconv.Atoi(o.Value)
			if err != nil || n <= 0 {
				return fieldTag{}, fmt.Errorf("maxlen=%s: want a positive number of bytes", o.Value)
			}
			ft.maxLen = n
		case "migrate":
			ft.migrate = true
		case "lowcardinality":
			ft.lowCardinality = true
		case "normalize":
			n, err := parseNormalizer(o.Value)
			if err != nil {
				return fieldTag{}, err
			}
			ft.normalize = n
		case "bits":
			n, err := strconv.Atoi(o.Value)
			if err != nil || n < 1 || n > MaxIndexBits {
				return fieldTag{}, fmt.Errorf("bits=%s: want 1 to %d; see pii.RecommendBits", o.Value, MaxIndexBits)
			}
			ft.bits = n
		case "format":
			ft.format = o.Value
		case "part":
			if _, err := parsePart(o.Value); err != nil {
				return fieldTag{}, err
			}
			ft.part = o.Value
		}
	}
	return ft, nil
}
