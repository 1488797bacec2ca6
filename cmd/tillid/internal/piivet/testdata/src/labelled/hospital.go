package labelled

import "time"

type Patient struct {
	ID                    string    // other
	MRN                   string    // other
	FirstName             string    // personal
	LastName              string    // personal
	BirthDate             time.Time // personal
	SSN                   string    // personal
	Gender                string    // personal
	BloodType             string    // personal
	Allergies             []string  // personal
	Diagnosis             string    // personal
	Medications           []string  // personal
	Religion              string    // personal
	Ethnicity             string    // personal
	EmergencyContactName  string    // personal
	EmergencyContactPhone string    // personal
	AdmittedAt            time.Time // other
	Ward                  string    // other
	BedNumber             int       // other
	AttendingPhysicianID  string    // other
}

type Encounter struct {
	ID         string      // other
	PatientID  string      // other
	Diagnoses  []Diagnosis // other
	ICD10Code  string      // personal
	Notes      string      // personal
	Department string      // other
	StartedAt  time.Time   // other
	EndedAt    time.Time   // other
	Priority   int         // other
}

type Diagnosis struct {
	Code        string    // personal
	Description string    // personal
	DiagnosedAt time.Time // other
	Severity    int       // other
}

type Prescription struct {
	ID           string    // other
	PatientID    string    // other
	Medication   string    // personal
	Dosage       string    // personal
	PrescribedBy string    // other
	ValidUntil   time.Time // other
	Refills      int       // other
}

type LabResult struct {
	ID            string    // other
	SampleID      string    // other
	Test          string    // other
	Value         float64   // other
	Unit          string    // other
	TakenAt       time.Time // other
	GeneticMarker string    // personal
	HIVStatus     string    // personal
}

type Journal struct {
	PatientCPR          string    // personal
	Diagnose            string    // personal
	Helbredsoplysninger string    // personal
	Medicin             string    // personal
	Allergi             string    // personal
	Indlagt             time.Time // other
	Afdeling            string    // other
	LaegeNavn           string    // personal
	Religion            string    // personal
	Noter               string    // personal
	Journalnummer       string    // other
}

type Staff struct {
	EmployeeID          string // other
	FullName            string // personal
	WorkPhone           string // personal
	Email               string // personal
	Role                string // other
	Department          string // other
	BadgeNumber         string // other
	TradeUnion          string // personal
	FingerprintTemplate []byte // personal
}

type Hospital struct {
	ID      string // other
	Name    string // other
	Address string // other
	Phone   string // other
	Beds    int    // other
}
