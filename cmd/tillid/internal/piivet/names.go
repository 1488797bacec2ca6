package piivet

import (
	"slices"
	"strings"
)

// strength says where a dictionary word is personal data.
type strength uint8

const (
	// strong words are personal wherever they appear in a field name,
	// unless a word around them says otherwise (EmailVerified, SupportEmail).
	strong strength = iota + 1
	// alone words are personal only as the whole field name, optionally
	// after words that name a person or qualify the value (Mobile,
	// HomeMobile, MobileNumber; not MobileApp).
	alone
	// ofPerson words are personal after a word that names a person or
	// qualifies the value (CustomerName, HomeAddr, BillingCity), or as the
	// whole field name of a struct about a person (Customer.Name,
	// Address.City); not Product.Name or Server.Addr.
	ofPerson
)

// concept is what a dictionary entry means.
type concept struct {
	class    string // pii class= to suggest
	strength strength
	// network: words such as listen, server or redis before it make it a
	// network address, not a person's (ListenAddr, ServerIP).
	network bool
}

// dictionary maps the joined, lower-case, Danish-folded words of a name
// part to its concept: "firstname" matches FirstName, first_name and
// Firstname alike. Plurals are found by trimming s, es, ies→y and the
// Danish -r.
var dictionary = buildDictionary()

func buildDictionary() map[string]concept {
	d := map[string]concept{}
	add := func(class string, s strength, network bool, words ...string) {
		for _, w := range words {
			d[w] = concept{class: class, strength: s, network: network}
		}
	}
	// Contact details.
	add("contact", strong, false, "email", "emailaddress", "mailaddress", "emailadresse", "mailadresse", "epost",
		"phone", "phonenumber", "phoneno", "telephone", "telephonenumber", "cellphone", "cellnumber", "mobilephone",
		"mobilenumber", "msisdn", "telefon", "telefonnummer", "telefonnr", "tlf", "tlfnr", "mobilnummer", "mobilnr")
	add("contact", alone, false, "mail", "mobile", "mobil", "tel", "fax")
	// Names and other identity data.
	add("identity", strong, false, "firstname", "lastname", "fullname", "givenname", "familyname", "surname",
		"middlename", "maidenname", "legalname", "nickname", "displayname", "birthname",
		"fornavn", "efternavn", "mellemnavn", "kaldenavn", "fuldenavn", "fuldtnavn", "pigenavn",
		"birthdate", "dateofbirth", "dob", "birthday", "placeofbirth", "birthplace",
		"foedselsdato", "fodselsdato", "foedselsdag", "fodselsdag", "gender", "koen")
	add("identity", alone, false, "born", "sex", "foedt")
	add("identity", ofPerson, false, "name", "navn")
	// Addresses and geolocation.
	add("location", strong, true, "address", "homeaddress", "streetaddress", "adresse")
	add("location", strong, false, "addressline", "street", "streetname", "housenumber", "houseno",
		"zip", "zipcode", "postcode", "postalcode", "vejnavn", "gade", "husnummer", "husnr", "postnummer", "postnr",
		"latitude", "longitude", "lat", "lng", "lon", "latlng", "latlon", "geo", "geolocation", "geopoint", "geohash",
		"gps", "coordinates", "coords", "breddegrad", "laengdegrad", "koordinater")
	add("location", ofPerson, true, "addr")
	add("location", ofPerson, false, "city", "town", "bynavn")
	add("location", alone, false, "by")
	// National identifiers.
	add("national_id", strong, false, "cpr", "cprnr", "cprnummer", "personnummer", "ssn", "socialsecurity",
		"socialsecuritynumber", "nationalid", "nationalidentity", "passport", "passportnumber", "passportno",
		"pasnummer", "taxid", "taxnumber", "taxidentification", "nino", "driverlicense", "driverslicense",
		"drivinglicence", "drivinglicense", "koerekort", "sygesikringsnummer")
	add("national_id", alone, false, "tin")
	// Financial identifiers.
	add("financial", strong, false, "iban", "accountnumber", "accountno", "bankaccount", "bankaccountnumber",
		"kontonummer", "kontonr", "cardnumber", "cardno", "creditcard", "creditcardnumber", "debitcard", "ccnumber",
		"kortnummer", "cvv", "cvc", "cvv2")
	add("financial", alone, false, "pan")
	// Online identifiers: IP addresses and device IDs.
	add("identity", strong, true, "ip", "ipaddress", "ipaddr", "ipv4", "ipv6", "ipadresse")
	add("identity", strong, false, "clientip", "remoteip", "remoteaddr", "remoteaddress", "forwardedfor",
		"imei", "imsi", "deviceid", "udid", "idfa", "idfv", "gaid", "advertisingid", "macaddress", "macaddr",
		"macadresse", "devicetoken", "pushtoken")
	// Health (GDPR Art. 9).
	add("health", strong, false, "health", "diagnosis", "diagnoses", "diagnose", "medication", "medicine",
		"prescription", "allergy", "symptom", "treatment", "bloodtype", "bloodgroup", "disability", "medical",
		"pregnancy", "pregnant", "hiv", "vaccination", "icd", "icd10", "injury", "illness", "disease",
		"helbred", "helbredsoplysninger", "medicin", "sygdom", "allergi", "handicap")
	// Other special categories (GDPR Art. 9).
	add("special", strong, false, "religion", "religious", "ethnicity", "ethnic", "ethnicorigin",
		"sexualorientation", "sexuality", "tradeunion", "unionmembership", "fagforening", "fagforeningsmedlem",
		"politicalopinion", "politicalparty", "political", "biometric", "biometrics", "fingerprint", "faceprint",
		"facetemplate", "iris", "retina", "voiceprint", "dna", "genetic", "genome", "genotype",
		"etnicitet", "seksualitet", "seksuelorientering", "politisk")
	add("special", alone, false, "race")
	return d
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// personWords name a person. In a struct's name they make the struct one
// about a person; before an ofPerson or alone word they make it personal.
var personWords = set("customer", "user", "person", "people", "patient", "employee", "member", "contact",
	"client", "owner", "holder", "cardholder", "applicant", "candidate", "student", "pupil", "teacher",
	"guardian", "parent", "child", "spouse", "doctor", "physician", "nurse", "staff", "subscriber", "buyer",
	"recipient", "sender", "beneficiary", "borrower", "driver", "passenger", "traveler", "traveller", "guest",
	"visitor", "attendee", "participant", "manager", "signer", "signatory", "emergency", "kin", "profile",
	"kunde", "bruger", "borger", "medlem", "elev", "kontakt", "modtager", "ejer", "paaroerende", "laege",
	"sygeplejerske", "ansat", "medarbejder", "indehaver", "kontoindehaver", "kortholder", "profil", "leder",
	"studerende", "laerer", "foraelder", "barn")

// notNameOwners are person words that, before Name, make an account
// handle rather than a person's name: UserName, LoginName, Brugernavn.
var notNameOwners = set("user", "bruger", "login", "account", "screen")

// qualifierWords describe which of a person's values a field holds.
var qualifierWords = set("home", "work", "private", "personal", "primary", "secondary", "alt", "alternate",
	"alternative", "other", "billing", "shipping", "delivery", "postal", "mailing", "residential", "current",
	"previous", "new", "old", "main", "preferred", "legal", "registered", "permanent", "temporary", "real",
	"hjem", "privat", "arbejde", "faktura", "levering", "bopael")

// recordWords make a struct one about a person's record, for addresses:
// Address.City, Order.Zip, Shipment.Town.
var recordWords = set("address", "adresse", "order", "ordre", "shipment", "delivery", "levering", "invoice",
	"faktura", "booking", "reservation", "appointment", "visit", "admission", "application", "claim",
	"subscription", "shipping", "billing", "home", "residence", "bopael")

// orgWords name an organisation or a system. Before a contact or address
// word (SupportEmail, CompanyPhone), or in a struct's name (Warehouse,
// Branch, Config), they make it the organisation's, not a person's.
var orgWords = set("company", "business", "org", "organization", "organisation", "firm", "vendor", "supplier",
	"merchant", "store", "shop", "warehouse", "office", "branch", "bank", "hospital", "clinic", "pharmacy",
	"support", "noreply", "sales", "info", "server", "host", "service", "smtp", "default", "example", "sample",
	"fallback", "system", "site", "website", "platform", "config", "configuration", "settings", "options",
	"agency", "depot", "carrier", "airline", "school", "municipality", "hotel", "venue", "facility", "factory",
	"insurer", "firma", "virksomhed", "butik", "lager", "filial", "klinik", "apotek", "kommune", "skole")

// networkWords before an address or IP make it a network endpoint.
var networkWords = set("listen", "bind", "server", "host", "local", "localhost", "proxy", "upstream",
	"downstream", "backend", "db", "database", "redis", "smtp", "imap", "http", "https", "grpc", "tcp", "udp",
	"metrics", "admin", "debug", "pprof", "api", "base", "gateway", "dns", "nameserver", "router", "subnet",
	"broadcast", "multicast", "node", "cluster", "service", "endpoint", "contract", "memory", "mem", "web",
	"url", "internal", "nat", "vip", "lb", "kafka", "nats", "mqtt", "ldap", "relay", "exporter", "statsd",
	"syslog", "pod", "container", "vm", "instance", "advertise", "announce", "server", "net", "netvaerk")

// metaWords after a personal word make the field about the field, not the
// value: PhoneCount, EmailTemplate, AddressID, BirthDateAt, FirstNameLabel.
var metaWords = set("count", "counts", "total", "at", "id", "ids", "label", "field", "column", "col",
	"header", "template", "placeholder", "format", "regex", "regexp", "pattern", "length", "len", "max", "min",
	"limit", "file", "path", "dir", "enabled", "disabled", "visible", "hidden", "required", "optional",
	"flag", "flags", "config", "settings", "version", "schema", "metric", "metrics", "error", "err", "errors",
	"url", "uri", "link", "cache", "hint", "queue", "job", "worker", "lookup", "lookups", "expiry", "expiration",
	"expires", "issued", "antal")

// stateWords after a contact, identity, address or financial word make it
// a state or a property of the value (EmailVerified, PhoneCountry,
// AddressType); after a health or special word they do not, since the
// state of an Art. 9 datum is still one (HIVStatus, DiagnosisType).
var stateWords = set("verified", "verify", "verification", "confirmed", "confirmation", "allowed", "valid",
	"validated", "invalid", "opt", "optin", "optout", "consent", "consented", "subscribed", "unsubscribed",
	"bounced", "bounce", "type", "types", "kind", "status", "state", "updated", "changed", "sent", "domain",
	"provider", "service", "server", "host", "port", "api", "client", "country", "prefix", "region",
	"subject", "body", "language", "lang", "mode", "preference", "preferences", "policy", "rule", "rules",
	"token", "tokens", "visibility", "privacy", "permission", "permissions", "scope", "source",
	"gyldig", "bekraeftet")

// valueWords after an alone or ofPerson word keep it the value itself:
// MobileNumber, AddrLine, NameRaw.
var valueWords = set("number", "no", "nr", "num", "nummer", "value", "raw", "plain", "text", "line", "digits",
	"hash", "idx", "index", "encrypted", "enc", "masked", "full")

// lookup finds s in the dictionary, also as a plural.
func lookup(s string) (concept, bool) {
	if c, ok := dictionary[s]; ok {
		return c, true
	}
	for _, trim := range []struct{ suffix, repl string }{{"ies", "y"}, {"es", ""}, {"s", ""}, {"er", ""}, {"r", ""}} {
		if base, ok := strings.CutSuffix(s, trim.suffix); ok && len(base) > 1 {
			if c, ok := dictionary[base+trim.repl]; ok {
				return c, true
			}
		}
	}
	if c, ok := danishCompound(s); ok {
		return c, true
	}
	return concept{}, false
}

// danishCompound recognises Danish compounds the dictionary cannot list:
// leveringsadresse, faktureringsadresse (addresses), kundenavn,
// patientnavn (a person's name; not brugernavn, filnavn or firmanavn).
func danishCompound(s string) (concept, bool) {
	if head, ok := strings.CutSuffix(s, "adresse"); ok && head != "" {
		head = strings.TrimSuffix(head, "s")
		if !networkWords[head] && head != "web" {
			return dictionary["adresse"], true
		}
	}
	if head, ok := strings.CutSuffix(s, "navn"); ok && head != "" {
		head = strings.TrimSuffix(strings.TrimSuffix(head, "s"), "e")
		if (personWords[head] || personWords[head+"e"]) && !notNameOwners[head] && !notNameOwners[head+"e"] {
			return concept{class: "identity", strength: strong}, true
		}
	}
	return concept{}, false
}

// match is one dictionary hit in a field name: words[start:end].
type match struct {
	concept
	start, end int
}

// matches returns the dictionary hits in words, longest first from the
// left, not overlapping.
func matches(words []string) []match {
	var out []match
	for i := 0; i < len(words); {
		found := false
		for j := len(words); j > i; j-- {
			if c, ok := lookup(strings.Join(words[i:j], "")); ok {
				out = append(out, match{concept: c, start: i, end: j})
				i, found = j, true
				break
			}
		}
		if !found {
			i++
		}
	}
	return out
}

// nameContext is what a struct's name says about its fields.
type nameContext struct {
	person bool // about a person: Customer, Patient, Medarbejder
	record bool // a record about a person, for addresses: Address, Order
	org    bool // an organisation's or a system's: Warehouse, Config
}

func contextOf(structName string) nameContext {
	var c nameContext
	for _, w := range splitWords(structName) {
		c.person = c.person || personWords[w] || personWords[strings.TrimSuffix(w, "s")]
		c.record = c.record || recordWords[w]
		c.org = c.org || orgWords[w]
	}
	c.org = c.org && !c.person // a BankCustomer is a person, a Bank is not
	return c
}

// classifyName reports whether a field named field, in a struct with
// context ctx, names personal data, and the class to suggest.
func classifyName(ctx nameContext, field string) (class string, personal bool) {
	words := splitWords(field)
	for _, m := range matches(words) {
		if personalMatch(ctx, words, m) {
			return m.class, true
		}
	}
	return "", false
}

func personalMatch(ctx nameContext, words []string, m match) bool {
	before, after := words[:m.start], words[m.end:]
	art9 := m.class == "health" || m.class == "special"
	for _, w := range after {
		if metaWords[w] || !art9 && stateWords[w] {
			return false
		}
	}
	personBefore := slices.ContainsFunc(before, func(w string) bool { return personWords[w] })
	for _, w := range before {
		if m.network && networkWords[w] {
			return false
		}
		if orgWords[w] && !art9 && !personBefore {
			return false
		}
	}
	switch m.strength {
	case strong:
		if ctx.org && !personBefore && (m.class == "contact" || m.class == "location") {
			return false
		}
		return true
	case alone, ofPerson:
		for _, w := range after {
			if !valueWords[w] && !isDigits(w) {
				return false
			}
		}
		owned := false
		for _, w := range before {
			switch {
			case personWords[w] && !(m.class == "identity" && notNameOwners[w]):
				owned = true
			case qualifierWords[w]:
				owned = true
			default:
				return false
			}
		}
		if owned || m.strength == alone {
			return owned || !ctx.org
		}
		if m.class == "location" {
			return (ctx.person || ctx.record) && !ctx.org
		}
		return ctx.person && !ctx.org
	}
	return false
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
