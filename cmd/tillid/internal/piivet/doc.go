// Package piivet is the analyzer behind "tillid vet" (and go vet
// -vettool=tillid). It reports, at file:line:col:
//
//  1. Exported struct fields without a pii tag whose name or type says
//     personal data. A pii:"-" tag marks a field as checked and not
//     personal.
//  2. Invalid pii tags, checked as the runtime checks them: the syntax and
//     schema by the same functions package pii calls (tag.Parse,
//     tag.CheckStatic, the processing options and struct-level defaults
//     of internal/tag), and what pii's plan refuses of the field's Go
//     type, mirrored on go/types in types.go: an action on a type it does
//     not take (encrypt on an int, tokenize on a []byte, deterministic on
//     a low-cardinality type without lowcardinality, a pii.Value of a
//     type it cannot encode), mask= on a type or class it does not fit,
//     aad=, index=, from= and subject= naming a field that is missing,
//     promoted from an embedded struct, unexported, protected or of the
//     wrong type, subject and hold fields of the wrong type, retention
//     rules without from= or with a then= they cannot do, a purpose in a
//     nested struct that Forget and Withdraw would not reach, untagged
//     pii.Value and pii.Text fields, structs with tagged fields as map
//     keys, and tags on unexported fields. Generic structs are checked
//     where they are instantiated (a field of type Box[int], type X =
//     Box[int]), since what pii says depends on the type arguments, and
//     so are structs of other modules, whose declarations this run may not
//     check; type aliases as the types they name. parity_test.go runs the same
//     structs through pii.Validate and through the analyzer and fails
//     when they disagree. Calls that pii refuses whatever the data: a
//     field path written as a constant in pii.ColumnFor,
//     Protector.BlindIndexer or Protector.LookupTerms that names no field
//     or a field the call cannot use (paths.go), and a value that is not a
//     pointer passed to Protect, Reveal, Rewrap, RevealReport or Erase.
//  3. Values whose type holds pii-tagged fields (directly or through
//     nested and embedded structs, pointers, slices, arrays and maps,
//     unexported fields included, since fmt prints those) passed to fmt
//     (Print*, Sprint*, Fprint*, Append*, Errorf), log (Print*, Fatal*,
//     Panic*, and *log.Logger's) or log/slog (Debug, Info, Warn, Error, Log,
//     their Context forms and *slog.Logger's, With, Any, Group, AnyValue,
//     GroupValue) without pii.Redacted. Types with their own String, Format
//     or Error method (fmt, log) or LogValue method (slog) are trusted.
//     Values passed as ...any spreads are not seen. A single field tagged
//     encrypt, deterministic or redact (which hold plaintext before Protect
//     and after Reveal) passed to log, log/slog or fmt.Errorf is reported
//     too; fmt's other functions may show a revealed field on purpose (a
//     page, an export) and are not.
//
// # How names are read
//
// A name is split into words at case changes, acronym ends, digits,
// underscores and hyphens (CPRNumber: cpr, number; IPAddr: ip, addr;
// Last_Name: last, name), Danish letters are folded (ø→oe, æ→ae, å→aa) and
// runs of words are looked up, joined, in a dictionary of English and
// Danish terms, plurals included (Emails, Allergies, Adresser). Words, not
// substrings, match: Username, Filename, Hostname and TypeName never match
// "name", and Status, ID and CreatedAt never alarm. A hit is then judged by
// the words around it:
//
//   - words after it that describe the field rather than the value
//     (PhoneCount, EmailTemplate, AddressID, EmailVerifiedAt) clear it;
//     words for a state (EmailVerified, AddressType, PhoneCountry) clear it
//     for every category but health and Art. 9 data, whose state is still
//     such data (HIVStatus);
//   - an organisation's or a system's word before it (SupportEmail,
//     CompanyPhone) clears contact and address data, and a network word
//     (ListenAddr, ServerIP, RedisAddr) clears addresses and IPs;
//   - ambiguous words need a person: Name, Navn, Addr, City and Town count
//     only after a person's word (CustomerName, HolderName, HomeAddr,
//     BillingCity) or as the whole name in a struct about a person
//     (Customer.Name, Medarbejder.Navn; Address.City, Order.City);
//     Product.Name and Server.Addr do not;
//   - in a struct about an organisation (Warehouse, Branch, Hospital,
//     Config) contact and address fields are the organisation's, unless a
//     person's word says otherwise (ManagerEmail).
//
// Decisions: Username and other account handles are not reported (they
// are looked up in clear; tag them if they hold real names). Unexported
// fields are not reported, since pii cannot reach them and a tag on them is
// an error. Fields whose type is a struct with exported fields (also from
// another module), an interface, a function or a channel are not reported
// by name: a struct's own fields are checked where it is declared.
// time.Time, sql.Null*, pii.Value and other structs without exported
// fields are values and are checked by name. A bool is reported only for
// health and special categories (Pregnant, not EmailVerified). The type
// decides first: net.IP, net.HardwareAddr, netip.Addr, netip.AddrPort and
// mail.Address are personal whatever the name, unless the name is a
// network word's; then the name of a named type (Contact Email). Test files
// and generated files are not checked by name (fixtures and generated
// code cannot be tagged usefully); their tags and logging are.
//
// On the labelled sets in testdata (438 fields of a bank, a hospital, a
// SaaS app, a shop, insurance, payroll, a school, an airline, a telecom,
// logistics, real estate, dating and Danish public sector models),
// recall is 0.948 and precision 1.000; see labelled_test.go.
package piivet
