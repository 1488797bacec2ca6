package tillidgorm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNames: every spelling of a column or table that a database takes as
// the same name normalises to one name, so the plugin's decision cannot be
// dodged by quoting or qualifying.
func TestNames(t *testing.T) {
	columns := []struct{ name, in, want string }{
		{"plain", "name", "name"},
		{"backticks", "`name`", "name"},
		{"double quotes", `"name"`, "name"},
		{"brackets", "[name]", "name"},
		{"qualified", "customers.name", "name"},
		{"quoted qualified", "`customers`.`name`", "name"},
		{"schema qualified", `"public"."customers"."name"`, "name"},
		{"upper case", "NAME", "name"},
		{"spaces", "  name ", "name"},
	}
	for _, tt := range columns {
		assert.Equal(t, tt.want, identName(tt.in), "identName(%q) (%s)", tt.in, tt.name)
	}
	tables := []struct{ name, in, want string }{
		{"plain", "customers", "customers"},
		{"alias", "customers AS c", "customers"},
		{"short alias", "customers c", "customers"},
		{"schema", `"public"."Customers"`, "customers"},
		{"backticks", "`customers`", "customers"},
		{"subquery", "(?) AS u", ""},
		{"empty", "", ""},
	}
	for _, tt := range tables {
		assert.Equal(t, tt.want, tableIdent(tt.in), "tableIdent(%q) (%s)", tt.in, tt.name)
	}
}
