package logs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/tillid/tillid/pii"
	"other"
)

type Customer struct {
	ID    string `pii:"-"`
	Email string `pii:"encrypt,class=contact"`
}

type Order struct {
	ID     int
	buyer  Customer // unexported, but fmt prints it
	Lines  []Line
	ByName map[string]*Customer
}

type Line struct{ SKU string }

type Untagged struct {
	ID   string `pii:"-"`
	Note string `pii:"-"`
}

type Shipment struct{ To other.Address } // tagged in another package

type Node struct {
	Next  *Node
	Email string `pii:"redact"`
}

type Box[T any] struct{ Item T }

type SafeCustomer Customer

func (SafeCustomer) String() string { return "customer" }

type PtrStringer Customer

func (*PtrStringer) String() string { return "customer" }

type CustomerAlias = Customer

type LogCustomer Customer

func (LogCustomer) LogValue() slog.Value { return slog.StringValue("customer") }

func calls(ctx context.Context, c Customer, o *Order, s Shipment, n *Node, cs []Customer) {
	fmt.Println(c)                                   // want `Customer holds pii-tagged fields and fmt.Println prints them`
	fmt.Printf("%v\n", o)                            // want `\*Order holds pii-tagged fields and fmt.Printf`
	_ = fmt.Sprint(s)                                // want `Shipment holds pii-tagged fields`
	_ = fmt.Errorf("bad %v", n)                      // want `fmt.Errorf`
	fmt.Fprintln(os.Stderr, cs)                      // want `\[\]Customer holds`
	log.Print(c)                                     // want `log.Print prints them`
	log.New(os.Stderr, "", 0).Println(&c)            // want `log.Logger.Println`
	slog.Info("saved", "customer", c)                // want `slog.Info`
	slog.Default().WarnContext(ctx, "x", "order", o) // want `slog.Logger.WarnContext`
	slog.Info("x", slog.Any("c", c))                 // want `slog.Any`
	slog.Info("x", slog.Group("g", "c", c))          // want `slog.Group`
	slog.With("c", c).Info("x")                      // want `slog.With`
	fmt.Println(Box[Customer]{Item: c})              // want `Box\[Customer\] holds`

	_ = fmt.Errorf("mail %s", c.Email)       // want `Email is a pii:"encrypt" field and fmt.Errorf prints its plaintext`
	slog.Info("x", "email", (o.buyer.Email)) // want `Email is a pii:"encrypt" field and slog.Info`
	log.Println(n.Email)                     // want `Email is a pii:"redact" field`
	type wrap struct{ Customer }
	log.Print(wrap{c}.Email) // want `Email is a pii:"encrypt" field`

	// Not reported:
	fmt.Println(c.ID, o.ID)
	fmt.Printf("%s <%s>\n", c.Email, n.Email) // shown on purpose, as on a page
	fmt.Println(pii.Redacted(c))
	slog.Info("saved", "customer", pii.Redacted(o))
	fmt.Println(c.ID, Untagged{}, Line{}, Box[Line]{})
	fmt.Println(SafeCustomer(c))
	slog.Info("x", "c", LogCustomer(c))
	fmt.Println(errors.New("x"))
	args := []any{c}
	fmt.Println(args...) // the static type is []any: not known here
}
