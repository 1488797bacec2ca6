package rules

import (
	"database/sql"
	"net"
	"net/netip"
	"time"

	"github.com/tillid/tillid/pii"
	"other"
)

type Customer struct {
	ID          string `pii:"-"`
	CreatedAt   time.Time
	Status      string
	Name        string                // want `Name looks like personal data \(identity\)`
	EMail       string                // want `EMail looks like personal data \(contact\)`
	Email2      string                // want `Email2 looks like personal data \(contact\)`
	first_name  string                // unexported: pii cannot reach it, so no report
	Last_Name   string                // want `Last_Name looks like personal data`
	CPRNumber   string                // want `CPRNumber looks like personal data \(national_id\)`
	IPAddr      string                // want `IPAddr looks like personal data \(identity\)`
	ClientAddr  net.IP                // want `ClientAddr looks like personal data \(identity\)`
	Peers       []netip.Addr          // want `Peers looks like personal data \(identity\)`
	Born        pii.Value[time.Time]  // want `pii.Value\[time.Time\] field has no pii tag`
	Phone       *sql.NullString       // want `Phone looks like personal data`
	Contact     other.Email           // want `Contact looks like personal data \(contact\)`
	Home        other.Address         // a struct: its own fields are checked where declared
	Billing     struct{ City string } // want `City looks like personal data \(location\)`
	Username    string                // an account handle, not a name
	Hostname    string
	Filename    string
	TypeName    string
	PhoneCount  int
	EmailSentAt time.Time
	HasEmail    bool
	Pregnant    bool // want `Pregnant looks like personal data \(health\)`
	Notify      func(string)
	Updates     chan string
	Checked     string    `pii:"-"`
	Fødselsdato time.Time // want `Fødselsdato looks like personal data`
	Postnummer  int       // want `Postnummer looks like personal data \(location\)`
}

// The anonymous struct of Customer.Billing: "CustomerBilling" is about a
// person's billing record.
var _ = Customer{}.Billing.City

type Product struct {
	Name     string
	Address  string // want `Address looks like personal data \(location\)`
	Addr     string
	ServerIP net.IP
}

type Warehouse struct {
	Phone       string
	ManagerName string // want `ManagerName looks like personal data \(identity\)`
}

type Box[T any] struct {
	Item  T
	Email string // want `Email looks like personal data`
}

type Alias = Customer

type Embeds struct {
	other.Address
	*Customer
}
