package pii_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/pii"
)

// subjectLogged is a record about one person, whose ID an API role may
// see but logs may not.
type subjectLogged struct {
	ID    string `json:"id" pii:"subject,view=api:plain+audit:mask,mask=first"`
	Email string `json:"email" pii:"encrypt,class=contact,mask=email"`
	Plan  string `json:"plan"`
}

// The data subject's ID identifies a person: Redacted, the slog handler
// and every fmt verb show it as [redacted]; views show it only to the roles
// its view= names (plain or masked), and as null to any other.
func TestSubjectIDRedactedInLogs(t *testing.T) {
	t.Parallel()
	rec := subjectLogged{ID: "cust-4711", Email: "ada@example.com", Plan: "gold"}

	var buf bytes.Buffer
	slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil))).Info("m", "rec", rec, "ptr", &rec, "list", []subjectLogged{rec})
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "rec", pii.Redacted(rec))
	fmt.Fprintf(&buf, "%v %+v %#v %s %q", pii.Redacted(rec), pii.Redacted(&rec), pii.Redacted(rec), pii.Redacted(rec), pii.Redacted(rec))
	enc, err := json.Marshal(pii.Redacted(rec))
	require.NoError(t, err)
	buf.Write(enc)
	assert.NotContains(t, buf.String(), "4711", "logs never show the subject ID")
	assert.Contains(t, buf.String(), "gold", "untagged fields still show")
	assert.Equal(t, "{ID:[redacted] Email:[redacted] Plan:gold}", pii.Redacted(rec).String())

	api, err := pii.NewView("api")
	require.NoError(t, err)
	audit, err := pii.NewView("audit")
	require.NoError(t, err)
	other, err := pii.NewView("billing")
	require.NoError(t, err)
	checkViews(t, []viewCase{
		{"view=api:plain", api.JSON(rec), `{"id":"cust-4711","email":"a•••@example.com","plan":"gold"}`, "a role the tag names plain sees the ID"},
		{"view=audit:mask", audit.JSON(rec), `{"id":"c•••","email":"a•••@example.com","plan":"gold"}`, "masked by mask="},
		{"a role the tag does not name", other.JSON(rec), `{"id":"c•••","email":"a•••@example.com","plan":"gold"}`, "its mask=, as every tagged field"},
		{"Plain", pii.Plain(rec), `{"id":"cust-4711","email":"ada@example.com","plan":"gold"}`, "the explicit plaintext path"},
	})

	// Without mask= a role the tag does not name sees null.
	type bare struct {
		ID string `json:"id" pii:"subject"`
	}
	got, err := json.Marshal(pii.Masked(bare{ID: "cust-4711"}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":null}`, string(got))
}

// subjectOnly has no field that Protect transforms, only its subject ID,
// and a String method that prints it.
type subjectOnly struct {
	ID string `json:"id" pii:"subject"`
}

func (s subjectOnly) String() string { return "subject " + s.ID }

// A struct whose only tagged field is its subject is still shown by its
// plan, never through encoding/json or its own String method.
func TestSubjectOnlyStructNotOpaque(t *testing.T) {
	t.Parallel()
	type outer struct {
		Who  subjectOnly   `json:"who"`
		Many []subjectOnly `json:"many"`
	}
	v := outer{Who: subjectOnly{ID: "cust-4711"}, Many: []subjectOnly{{ID: "cust-4712"}}}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %v", pii.Redacted(v), pii.Redacted(v.Who))
	slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(&buf, nil))).Info("m", "v", v, "who", v.Who)
	masked, err := json.Marshal(pii.Masked(v))
	require.NoError(t, err)
	buf.Write(masked)
	assert.NotContains(t, buf.String(), "471")
	assert.JSONEq(t, `{"who":{"id":null},"many":[{"id":null}]}`, string(masked))
}
