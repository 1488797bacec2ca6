package labelled

import (
	"net/mail"
	"time"
)

type ShopCustomer struct {
	ID            string        // other
	FullName      string        // personal
	Email         string        // personal
	Phone         string        // personal
	Newsletter    bool          // other
	LoyaltyPoints int           // other
	Birthday      time.Time     // personal
	Addresses     []Address     // other
	Contact       *mail.Address // personal
}

type Address struct {
	ID           string // other
	CustomerID   string // other
	Street       string // personal
	HouseNumber  string // personal
	AddressLine2 string // personal
	City         string // personal
	PostalCode   string // personal
	Country      string // other
	IsDefault    bool   // other
	Label        string // other
}

type Order struct {
	ID              string    // other
	Number          string    // other
	CustomerID      string    // other
	ShippingName    string    // personal
	ShippingAddress string    // personal
	BillingAddress  string    // personal
	Total           int64     // other
	Currency        string    // other
	Status          string    // other
	PlacedAt        time.Time // other
	IPAddress       string    // personal
	TrackingNumber  string    // other
	ItemCount       int       // other
}

type Product struct {
	ID          string   // other
	SKU         string   // other
	Name        string   // other
	Description string   // other
	Price       int64    // other
	Weight      int      // other
	Category    string   // other
	ImageURL    string   // other
	StockCount  int      // other
	Tags        []string // other
}

type Payment struct {
	ID          string    // other
	OrderID     string    // other
	CardNumber  string    // personal
	CardLast4   string    // other
	CardBrand   string    // other
	IBAN        string    // personal
	Amount      int64     // other
	Provider    string    // other
	ProviderRef string    // other
	PaidAt      time.Time // other
}

type Warehouse struct {
	ID           string // other
	Name         string // other
	Address      string // other
	City         string // other
	ZipCode      string // other
	Phone        string // other
	ManagerName  string // personal
	ManagerEmail string // personal
}

type Ordre struct {
	Ordrenummer      string    // other
	Kundenavn        string    // personal
	Leveringsadresse string    // personal
	Postnummer       string    // personal
	By               string    // personal
	Telefonnummer    string    // personal
	Email            string    // personal
	Beloeb           int64     // other
	Oprettet         time.Time // other
	Status           string    // other
}

type Medarbejder struct {
	Medarbejdernummer string    // other
	Navn              string    // personal
	Fornavn           string    // personal
	Efternavn         string    // personal
	Stilling          string    // other
	Afdeling          string    // other
	Fagforening       string    // personal
	Ansat             time.Time // other
	Fødselsdato       time.Time // personal
	Adresse           string    // personal
	Telefon           string    // personal
	Mobil             string    // personal
	Email             string    // personal
}

type Server struct {
	Hostname    string // other
	Addr        string // other
	Port        int    // other
	TLSCertFile string // other
	Region      string // other
}
