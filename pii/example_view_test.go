package pii_test

import (
	"encoding/json"
	"fmt"

	"github.com/tillid/tillid/pii"
)

func ExampleMask() {
	for _, m := range []struct{ kind, value string }{
		{"email", "ada@example.com"},
		{"card", "4929 1300 0000 3749"},
		{"card-6-4", "4929130000003749"},
		{"iban", "DK50 0040 0440 1162 43"},
		{"cpr", "010190-1234"},
		{"phone", "+45 12 34 56 78"},
		{"name", "Ada King Lovelace"},
		{"email", "not an address"},
	} {
		s, _ := pii.Mask(m.kind, m.value)
		fmt.Printf("%-8s %s\n", m.kind, s)
	}
	// Output:
	// email    a•••@example.com
	// card     •••• •••• •••• 3749
	// card-6-4 492913••••••3749
	// iban     DK•• •••• •••• 6243
	// cpr      ••••••-••••
	// phone    •••5678
	// name     A. K. L.
	// email    •••
}

func ExampleView() {
	type Customer struct {
		ID    string `json:"id"`
		Email string `json:"email" pii:"encrypt,class=contact,mask=email,view=billing:plain"`
		Card  string `json:"card" pii:"tokenize=card,class=financial,mask=card,view=support:hide"`
		Notes string `json:"notes" pii:"redact"`
	}
	// c as Reveal leaves it.
	c := Customer{ID: "c1", Email: "ada@example.com", Card: "4929 1300 0000 3749", Notes: "likes tea"}

	billing, _ := pii.NewView("billing")
	support, _ := pii.NewView("support")
	for _, v := range []json.Marshaler{billing.JSON(c), support.JSON(c), pii.Masked(c), pii.Plain(c)} {
		b, _ := json.Marshal(v)
		fmt.Println(string(b))
	}
	fmt.Println(pii.Redacted(c)) // for logs
	// Output:
	// {"id":"c1","email":"ada@example.com","card":"•••• •••• •••• 3749","notes":null}
	// {"id":"c1","email":"a•••@example.com","card":null,"notes":null}
	// {"id":"c1","email":"a•••@example.com","card":"•••• •••• •••• 3749","notes":null}
	// {"id":"c1","email":"ada@example.com","card":"4929 1300 0000 3749","notes":"likes tea"}
	// {ID:c1 Email:[redacted] Card:[redacted] Notes:[redacted]}
}
