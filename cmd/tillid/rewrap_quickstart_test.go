package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quickstartColumns are the -column flags of the quickstart's customers
// table (examples/quickstart: Customer).
var quickstartColumns = []string{
	"-column", "name=Customer.Name:aad",
	"-column", "email=Customer.Email:aad",
	"-column", "email_idx=Customer.EmailIdx:index=email:normalize=email",
	"-column", "phone=Customer.Phone:aad",
	"-column", "birth_date=Customer.BirthDate:aad",
	"-column", "national_id=Customer.NationalID:ff1=national_id:aad",
	"-column", "card=Customer.Card:vault=card",
	"-column", "street=Customer.Street:aad",
}

// TestRewrapQuickstart runs the quickstart's database through rewrap: the
// quickstart rewraps 1,000 of its 11,000 rows after rotating, and rewrap
// moves the rest, ciphertexts, email indexes and national ID tokens alike
// (the issue saw 11,000 values skipped there). It builds and runs the
// quickstart, so it runs only with TILLID_QUICKSTART=1:
//
//	TILLID_QUICKSTART=1 go test -count=1 -run TestRewrapQuickstart -v ./cmd/tillid/
func TestRewrapQuickstart(t *testing.T) {
	if os.Getenv("TILLID_QUICKSTART") != "1" {
		t.Skip("set TILLID_QUICKSTART=1 to build and run examples/quickstart")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "./quickstart", "-dir", dir)
	cmd.Dir = filepath.Join("..", "..", "examples")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "quickstart: %s", out)
	args := func(extra ...string) []string {
		a := append([]string{"rewrap", "-wait=false", "-master-key-file", filepath.Join(dir, "master.key"), "-keyset-file", filepath.Join(dir, "keysets.json"),
			"-db", "sqlite:" + filepath.Join(dir, "customers.db"), "-table", "customers", "-key-column", "id"}, extra...)
		return append(a, quickstartColumns...)
	}
	code, check, _ := cli(t, args("-check")...)
	assert.Equal(t, exitRewrapSkips, code, "check before the rewrap\n%s", check)
	code, done, errOut := cli(t, args()...)
	require.Equal(t, exitOK, code, "rewrap = %d\n%s\n%s", code, done, errOut)
	assert.Contains(t, done, "0 skipped", "rewrap of the quickstart's table\n%s", done)
	code, verified, _ := cli(t, args("-check", "-verify")...)
	assert.Equal(t, exitOK, code, "check -verify after the rewrap\n%s", verified)
	assert.Equal(t, 3, strings.Count(verified, "11000 values (primary)")+strings.Count(verified, "55000 values (primary)"), "check -verify\n%s", verified)
	t.Logf("before:\n%s\n%s\nafter:\n%s", check, done, verified)
}
