package piivet

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"FirstName", []string{"first", "name"}},
		{"CPRNumber", []string{"cpr", "number"}},
		{"IPAddr", []string{"ip", "addr"}},
		{"last_name", []string{"last", "name"}},
		{"AddressLine2", []string{"address", "line", "2"}},
		{"ICD10Code", []string{"icd", "10", "code"}},
		{"Fødselsdato", []string{"foedselsdato"}},
		{"ID", []string{"id"}},
		{"_", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, splitWords(tt.in), "splitWords(%q)", tt.in)
	}
}

func TestClassifyName(t *testing.T) {
	tests := []struct {
		name, structName, field string
		want                    bool
		reason                  string
	}{
		{"email", "Customer", "Email", true, ""},
		{"username", "User", "Username", false, "an account handle, decided not personal"},
		{"user name", "User", "UserName", false, "the same handle in two words"},
		{"filename", "Upload", "Filename", false, "words, not substrings"},
		{"type name", "Field", "TypeName", false, "Name after a word that is not a person's"},
		{"product name", "Product", "Name", false, "Name alone needs a struct about a person"},
		{"patient name", "Patient", "Name", true, ""},
		{"phone count", "Customer", "PhoneCount", false, "a count, not the value"},
		{"email verified", "Customer", "EmailVerified", false, "a state"},
		{"hiv status", "LabResult", "HIVStatus", true, "the state of an Art. 9 datum is one"},
		{"support email", "Config", "SupportEmail", false, "an organisation's address"},
		{"manager email", "Warehouse", "ManagerEmail", true, "a person's word wins in an organisation's struct"},
		{"listen addr", "Server", "ListenAddr", false, "a network endpoint"},
		{"remote addr", "Request", "RemoteAddr", true, "a client's IP"},
		{"danish compound", "Ordre", "Leveringsadresse", true, "Danish compounds of adresse"},
		{"brugernavn", "Bruger", "Brugernavn", false, "Danish for username"},
		{"kundenavn", "Ordre", "Kundenavn", true, ""},
		{"mobile app", "Release", "MobileApp", false, "alone words need to stand alone"},
		{"created by", "Order", "CreatedBy", false, "Danish By (city) only alone"},
	}
	for _, tt := range tests {
		_, got := classifyName(contextOf(tt.structName), tt.field)
		assert.Equal(t, tt.want, got, "%s: classifyName(%s.%s) (%s)", tt.name, tt.structName, tt.field, tt.reason)
	}
}
