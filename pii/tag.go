package pii

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tillid/tillid/internal/tag"
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
	if err := tag.CheckStatic(t); err != nil {
		return fieldTag{}, err
	}
	ft := fieldTag{key: defaultKeyName}
	name := t.Action.Name
	if a, _ := tag.LookupAction(name); a.AliasOf != "" {
		name = a.AliasOf
	}
	if name == "pseudonym" {
		name = "hash"
	}
	for a := actionEncrypt; a <= actionTokenize; a++ {
		if a.String() == name {
			ft.action = a
		}
	}
	if name == "-" {
		ft.action = actionSkip
	}
	switch ft.action {
	case actionTokenize:
		ft.domain = t.Action.Value
	case actionIndex:
		ft.sources = strings.Split(t.Action.Value, "+")
	}
	for _, o := range t.Options {
		switch o.Name {
		case "class":
			ft.class = o.Value
		case "key":
			ft.key = o.Value
		case "aad":
			ft.aadField = o.Value
		case "maxlen":
			ft.maxLen, _ = strconv.Atoi(o.Value)
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
			ft.bits, _ = strconv.Atoi(o.Value)
		case "format":
			ft.format = o.Value
		case "part":
			ft.part = o.Value
		}
	}
	return ft, nil
}
