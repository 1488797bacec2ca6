package pii_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// The keys of a tagged map are personal data (a map by email address):
// storing actions refuse a map unless the tag says plainkeys, and views,
// Masked and Redacted never show the keys of a tagged map unless the tag
// says plainkeys or the reader sees the field plain.

type (
	mapEncrypt struct {
		M map[string]string `pii:"encrypt"`
	}
	mapDeterministic struct {
		M map[string][]byte `pii:"deterministic"`
	}
	mapPseudonym struct {
		M map[int]string `pii:"pseudonym"`
	}
	mapTokenize struct {
		M map[string]string `pii:"tokenize=card"`
	}
	mapNested struct {
		M []map[string]*string `pii:"encrypt"`
	}
	mapPointer struct {
		M *map[string]string `pii:"encrypt"`
	}
	mapPlainKeys struct {
		M map[string]string `pii:"encrypt,plainkeys"`
	}
	// mapByEmail is a record whose map is keyed by email addresses.
	mapByEmail struct {
		ID    string            `json:"id"`
		Notes map[string]string `json:"notes" pii:"redact,mask=first,view=support:plain+audit:mask+hr:hide"`
		Tags  map[string]string `json:"tags" pii:"redact,mask=text,plainkeys"`
	}
)

func TestTaggedMapsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    any
	}{
		{"encrypt", &mapEncrypt{}},
		{"deterministic", &mapDeterministic{}},
		{"pseudonym, integer keys", &mapPseudonym{}},
		{"tokenize", &mapTokenize{}},
		{"a map in a slice", &mapNested{}},
		{"a pointer to a map", &mapPointer{}},
	}
	p, _ := newProtector(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pii.Validate(tt.v)
			require.ErrorIs(t, err, pii.ErrInvalidTag, "Validate(%T) = %v, want ErrInvalidTag", tt.v, err)
			assert.Contains(t, err.Error(), "would store the map's keys as they are")
			assert.Contains(t, err.Error(), "slice of structs", "the error gives the fix")
			assert.Contains(t, err.Error(), "plainkeys", "and the opt-in")
			assert.ErrorIs(t, p.Protect(ctx, tt.v), pii.ErrInvalidTag, "Protect refuses it as Validate does")
		})
	}
}

func TestPlainKeysStoresKeysAsTheyAre(t *testing.T) {
	t.Parallel()
	p, _ := newProtector(t)
	r := mapPlainKeys{M: map[string]string{"colour": "blue"}}
	require.NoError(t, pii.Validate(&r))
	mustProtect(t, p, &r)
	require.Len(t, r.M, 1)
	assert.True(t, strings.HasPrefix(r.M["colour"], "tl1e:"), "the value is protected, the key stays: %v", r.M)
	mustReveal(t, p, &r)
	assert.Equal(t, map[string]string{"colour": "blue"}, r.M)
}

func TestTaggedMapKeysHidden(t *testing.T) {
	t.Parallel()
	rec := mapByEmail{ID: "r1",
		Notes: map[string]string{"ada@example.com": "Countess", "bob@example.com": "Builder"},
		Tags:  map[string]string{"colour": "blue"}}
	support, err := pii.NewView("support")
	require.NoError(t, err)
	audit, err := pii.NewView("audit")
	require.NoError(t, err)
	hr, err := pii.NewView("hr")
	require.NoError(t, err)
	other, err := pii.NewView("billing")
	require.NoError(t, err)
	checkViews(t, []viewCase{
		{"Masked", pii.Masked(rec), `{"id":"r1","notes":["C•••","B•••"],"tags":{"colour":"•••"}}`, "masked values in key order, no key"},
		{"a role the tag does not name", other.JSON(rec), `{"id":"r1","notes":["C•••","B•••"],"tags":{"colour":"•••"}}`, "as Masked"},
		{"a role that sees it masked", audit.JSON(rec), `{"id":"r1","notes":["C•••","B•••"],"tags":{"colour":"•••"}}`, "view=audit:mask"},
		{"a role that sees it plain", support.JSON(rec), `{"id":"r1","notes":{"ada@example.com":"Countess","bob@example.com":"Builder"},"tags":{"colour":"•••"}}`, "view=support:plain shows the map as it is"},
		{"a role that does not see it", hr.JSON(rec), `{"id":"r1","notes":null,"tags":{"colour":"•••"}}`, "view=hr:hide"},
		{"Plain", pii.Plain(rec), `{"id":"r1","notes":{"ada@example.com":"Countess","bob@example.com":"Builder"},"tags":{"colour":"blue"}}`, "the explicit plaintext path"},
	})

	// Logs: Redacted, the slog handler and every fmt verb, of the record
	// and of views of it logged by mistake.
	var buf bytes.Buffer
	log := slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil)))
	log.Info("m", "rec", rec, "ptr", &rec, "view", support.JSON(rec))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "rec", pii.Redacted(rec), "view", pii.Masked(rec))
	fmt.Fprintf(&buf, "%v %+v %#v %q", pii.Redacted(rec), support.JSON(rec), pii.Masked(&rec), pii.Plain(rec))
	enc, err := json.Marshal(pii.Redacted(rec))
	require.NoError(t, err)
	buf.Write(enc)
	assert.NotContains(t, buf.String(), "@example.com")
	assert.NotContains(t, buf.String(), "Countess")

	// A bare map has no tag: its values show, its keys never do.
	buf.Reset()
	log.Info("m", "map", rec.Notes)
	fmt.Fprintf(&buf, "%v", pii.Redacted(rec.Notes))
	assert.NotContains(t, buf.String(), "@example.com")
}

// viewCase is one rendering of a record and the JSON it must give.
type viewCase struct {
	name   string
	v      json.Marshaler
	want   string
	reason string
}

// checkViews checks each view's JSON.
func checkViews(t *testing.T, tests []viewCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(got), tt.reason)
		})
	}
}
