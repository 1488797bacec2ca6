package holdout

import (
	"net"
	"time"
)

type PolicyHolder struct {
	PolicyID       string    // other
	GivenName      string    // personal
	FamilyName     string    // personal
	Born           time.Time // personal
	SocialSecurity string    // personal
	HomePhone      string    // personal
	MobileNumber   string    // personal
	EmailAddress   string    // personal
	StreetAddress  string    // personal
	Zip            string    // personal
	Town           string    // personal
	Premium        int64     // other
	StartsOn       time.Time // other
	Smoker         bool      // personal
	Disability     string    // personal
	AgentID        string    // other
}

type Claim struct {
	ClaimID      string    // other
	PolicyID     string    // other
	Amount       int64     // other
	IncidentAt   time.Time // other
	IncidentLat  float64   // personal
	IncidentLng  float64   // personal
	Injury       string    // personal
	Treatment    string    // personal
	HospitalName string    // other
	Status       string    // other
}

type Payslip struct {
	EmployeeNo      string    // other
	Navn            string    // personal
	CPRNr           string    // personal
	Kontonr         string    // personal
	Regnr           string    // other
	Bruttoloen      int64     // other
	Skat            int64     // other
	Periode         string    // other
	Udbetalt        time.Time // other
	Fagforening     string    // personal
	Pensionsprocent int       // other
}

type Student struct {
	StudentID      string    // other
	Fornavn        string    // personal
	Mellemnavn     string    // personal
	Efternavn      string    // personal
	Foedselsdag    time.Time // personal
	Klasse         string    // other
	ForaelderEmail string    // personal
	ForaelderTlf   string    // personal
	Allergier      []string  // personal
	Religion       string    // personal
	Karakter       int       // other
}

type Booking struct {
	PNR             string    // other
	PassengerName   string    // personal
	PassportNumber  string    // personal
	PassportExpiry  time.Time // other
	Nationality     string    // other
	SeatNumber      string    // other
	FlightNumber    string    // other
	DepartureAt     time.Time // other
	MealPreference  string    // other
	FrequentFlyerNo string    // other
	ContactPhone    string    // personal
	ContactEmail    string    // personal
}

type Subscriber struct {
	MSISDN      string    // personal
	IMSI        string    // personal
	IMEI        string    // personal
	Plan        string    // other
	DataUsedMB  int64     // other
	CellID      string    // other
	LastSeenAt  time.Time // other
	LastIP      net.IP    // personal
	ActivatedAt time.Time // other
	Churned     bool      // other
}

type Shipment struct {
	TrackingID      string  // other
	RecipientName   string  // personal
	RecipientPhone  string  // personal
	DeliveryAddress string  // personal
	DeliveryCity    string  // personal
	DeliveryZip     string  // personal
	WeightGrams     int     // other
	Carrier         string  // other
	DepotAddress    string  // other
	DriverName      string  // personal
	GPSLat          float64 // personal
	GPSLng          float64 // personal
}

type Listing struct {
	ListingID   string  // other
	Title       string  // other
	PriceDKK    int64   // other
	Rooms       int     // other
	SquareMeter int     // other
	Vejnavn     string  // personal
	Husnummer   string  // personal
	Postnr      string  // personal
	Bynavn      string  // personal
	OwnerName   string  // personal
	OwnerPhone  string  // personal
	AgencyName  string  // other
	AgencyPhone string  // other
	Latitude    float64 // personal
	Longitude   float64 // personal
}

type DatingProfile struct {
	ProfileID         string    // other
	Nickname          string    // personal
	Age               int       // other
	Gender            string    // personal
	SexualOrientation string    // personal
	Bio               string    // other
	PhotoURLs         []string  // other
	Religion          string    // personal
	Ethnicity         string    // personal
	Height            int       // other
	Interests         []string  // other
	GeoHash           string    // personal
	LastActiveAt      time.Time // other
}

type Borger struct {
	Personnummer    string    // personal
	Fornavn         string    // personal
	Efternavn       string    // personal
	Bopaelsadresse  string    // personal
	Kommunekode     int       // other
	Civilstand      string    // other
	Statsborgerskab string    // other
	Foedt           time.Time // personal
	Sagsnummer      string    // other
	Oprettet        time.Time // other
	Helbred         string    // personal
	Handicap        bool      // personal
}

type Job struct {
	Name      string        // other
	Queue     string        // other
	Attempts  int           // other
	LastError string        // other
	RunAt     time.Time     // other
	Timeout   time.Duration // other
	Payload   []byte        // other
}

type Metrics struct {
	EmailsSent      int     // other
	PhoneCallCount  int     // other
	AddressLookups  int     // other
	SignupsPerDay   float64 // other
	NameServer      string  // other
	BindAddress     string  // other
	UpstreamIP      net.IP  // other
	DiagnosticsPort int     // other
}
