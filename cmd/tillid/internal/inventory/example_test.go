package inventory_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/tillid/tillid/cmd/tillid/internal/inventory"
)

func ExampleRegister_WriteFormat() {
	reg := &inventory.Register{
		Packages: []string{"example.com/shop"},
		Fields: []inventory.Field{{
			Path: "example.com/shop.Customer.Email", Package: "example.com/shop", Type: "Customer",
			Position: "shop.go:16", Action: "encrypt", Safeguard: "encrypted", Class: "contact", Key: "default",
			Purposes: []string{"account", "support"}, Basis: "contract", Retain: "2y", From: "Created", Subject: "ID",
		}},
	}
	if err := reg.WriteFormat(os.Stdout, "csv"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// path,package,type,declared_in,position,action,safeguard,class,key,purposes,basis,retain,from,subject,aad,subjects
	// example.com/shop.Customer.Email,example.com/shop,Customer,,shop.go:16,encrypt,encrypted,contact,default,account+support,contract,2y,Created,ID,,
}

func ExamplePolicy_Check() {
	policy, err := inventory.ReadPolicy(strings.NewReader(`{"rules": [
		{"name": "art9", "classes": ["health", "special"], "require_any": ["subject", "aad", "retain"]}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := &inventory.Register{Fields: []inventory.Field{
		{Path: "example.com/clinic.Visit.Diagnosis", Position: "visit.go:12", Class: "health"},
		{Path: "example.com/clinic.Visit.Notes", Position: "visit.go:13", Class: "health", Retain: "10y"},
	}}
	for _, v := range policy.Check(reg) {
		fmt.Println(v)
	}
	// Output:
	// visit.go:12: example.com/clinic.Visit.Diagnosis: rule art9: needs one of subject, aad, retain
}
