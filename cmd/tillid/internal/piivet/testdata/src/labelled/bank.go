package labelled

import (
	"net"
	"time"
)

type BankCustomer struct {
	ID             string    // other
	CustomerNo     string    // other
	FirstName      string    // personal
	LastName       string    // personal
	MiddleName     string    // personal
	Email          string    // personal
	Phone          string    // personal
	DateOfBirth    time.Time // personal
	CPR            string    // personal
	Address        Address   // other
	CreatedAt      time.Time // other
	UpdatedAt      time.Time // other
	Status         string    // other
	Segment        string    // other
	EmailVerified  bool      // other
	PhoneCount     int       // other
	MarketingOptIn bool      // other
}

type BankAccount struct {
	ID            string    // other
	IBAN          string    // personal
	AccountNumber string    // personal
	Currency      string    // other
	Balance       int64     // other
	OpenedAt      time.Time // other
	HolderName    string    // personal
	BIC           string    // other
	BranchCode    string    // other
	ProductType   string    // other
}

type Card struct {
	ID             string // other
	CardNumber     string // personal
	ExpiryMonth    int    // other
	ExpiryYear     int    // other
	CVV            string // personal
	CardholderName string // personal
	Brand          string // other
	Last4          string // other
	Token          string // other
	Blocked        bool   // other
}

type Transfer struct {
	ID         string    // other
	FromIBAN   string    // personal
	ToIBAN     string    // personal
	Amount     int64     // other
	Reference  string    // other
	ExecutedAt time.Time // other
	ClientIP   net.IP    // personal
	DeviceID   string    // personal
	UserAgent  string    // other
}

type Branch struct {
	ID           string  // other
	Name         string  // other
	Street       string  // other
	City         string  // other
	ZipCode      string  // other
	Phone        string  // other
	OpeningHours string  // other
	Latitude     float64 // other
	Longitude    float64 // other
}

type Kunde struct {
	KundeID      string    // other
	Fornavn      string    // personal
	Efternavn    string    // personal
	Adresse      string    // personal
	Postnummer   string    // personal
	By           string    // personal
	Telefon      string    // personal
	Email        string    // personal
	CPRNummer    string    // personal
	Foedselsdato time.Time // personal
	Kontonummer  string    // personal
	Oprettet     time.Time // other
	Status       string    // other
	Samtykke     bool      // other
}
