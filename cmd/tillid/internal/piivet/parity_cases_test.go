package piivet_test

import (
	"database/sql"
	"encoding/json"
	"math/big"
	"reflect"
	"slices"
	"time"

	"github.com/tillid/tillid/internal/tag"
	"github.com/tillid/tillid/pii"
)

// The structs of this file are checked twice by parity_test.go: at run
// time by pii.Validate, and from the source by the analyzer (this file is
// loaded as a package and analysed). Each case in parityCases says
// whether pii refuses it; both must agree with that and so with each
// other. Helper types (lower case) are checked as far as a case reaches
// them through untagged fields, as pii's plan does.

type parityCase struct {
	name    string
	typ     reflect.Type
	invalid bool
	reason  string
}

func pc[T any](name string, invalid bool, reason string) parityCase {
	return parityCase{name: name, typ: reflect.TypeFor[T](), invalid: invalid, reason: reason}
}

// Some rules arrive with an option of the shared schema (see types.go):
// the cases they decide are labelled from the schema the test is built
// with.
var (
	schemaHasPlainKeys       = schemaAccepts("encrypt", "plainkeys")
	schemaHidesSubject       = schemaAccepts(tag.SubjectAction, "view")
	schemaRefusesInheritance = schemaRefuses("subject,purpose=x") // and several subjects need a subject=
)

func schemaAccepts(action, option string) bool {
	a, ok := tag.LookupAction(action)
	return ok && slices.Contains(a.Options, option)
}

func schemaRefuses(raw string) bool {
	t, err := tag.Parse(raw)
	return err == nil && tag.CheckStatic(t) != nil
}

// Helpers.

type contact struct {
	Email string `pii:"encrypt"`
}

type Contact struct {
	Email string `pii:"encrypt"`
}

type plainKey struct{ A, B string }

type subjKey struct {
	ID string `pii:"subject"`
}

type email string

type coords struct{ X, Y float64 }

type bloodType string

func (bloodType) PIILowCardinality() {}

type recordID [16]byte

func (r recordID) MarshalText() ([]byte, error) { return []byte("x"), nil }

type myTime time.Time

type flag bool

type badInner struct {
	V int `pii:"encrypt"`
}

type addrWithPurpose struct {
	Street string `pii:"encrypt,purpose=shipping"`
}

type addrOwnSubject struct {
	Owner  string `pii:"subject"`
	Street string `pii:"encrypt,purpose=shipping"`
}

type addrNoPurpose struct {
	Street string `pii:"encrypt"`
}

type addrKeyedNoPurpose struct {
	Owner  string `pii:"subject"`
	Street string `pii:"deterministic"`
}

type addrDefaultPurpose struct {
	_      struct{} `pii:"purpose=shipping"`
	Street string   `pii:"encrypt"`
}

type Box[T any] struct {
	V T `pii:"encrypt"`
}

type Pair[T any] struct {
	Inner Box[T]
}

type GenericAAD[T any] struct {
	ID T
	V  string `pii:"encrypt,aad=ID"`
}

type num = int

type mail = string

type badAlias = badInner

// Cases: the type fits its action.

type EncString struct {
	V string `pii:"encrypt"`
}
type EncInt struct {
	V int `pii:"encrypt"`
}
type EncValueInt struct {
	V pii.Value[int] `pii:"encrypt"`
}
type EncValueTime struct {
	V pii.Value[time.Time] `pii:"encrypt"`
}
type EncValueComplex struct {
	V pii.Value[complex128] `pii:"encrypt"`
}
type EncValueStruct struct {
	V pii.Value[coords] `pii:"encrypt"`
}
type EncValueBigInt struct {
	V pii.Value[big.Int] `pii:"encrypt"`
}
type EncValueAny struct {
	V pii.Value[any] `pii:"encrypt"`
}
type EncBytes struct {
	V []byte `pii:"encrypt"`
}
type EncRawJSON struct {
	V json.RawMessage `pii:"encrypt"`
}
type EncByteArray struct {
	V [16]byte `pii:"encrypt"`
}
type EncContainers struct {
	A *string             `pii:"encrypt"`
	B []string            `pii:"encrypt"`
	D sql.NullString      `pii:"encrypt"`
	E *sql.NullString     `pii:"encrypt"`
	F [][]byte            `pii:"encrypt"`
	G []*pii.Value[int64] `pii:"encrypt"`
}
type EncMap struct {
	V map[string]*string `pii:"encrypt"`
}
type EncMapInSlice struct {
	V []map[string]string `pii:"tokenize=card"`
}
type RedactMap struct {
	V map[string]string `pii:"redact"`
}
type EncStruct struct {
	V Contact `pii:"encrypt"`
}
type EncInterface struct {
	V any `pii:"encrypt"`
}
type EncNamedString struct {
	V email `pii:"encrypt"`
}
type EncNullInt struct {
	V sql.NullInt64 `pii:"encrypt"`
}
type EncSliceOfInt struct {
	V []int `pii:"encrypt"`
}
type DetBool struct {
	V bool `pii:"deterministic"`
}
type DetValueBool struct {
	V pii.Value[bool] `pii:"deterministic"`
}
type DetValueBoolLow struct {
	V pii.Value[bool] `pii:"deterministic,lowcardinality"`
}
type DetValueInt64 struct {
	V pii.Value[int64] `pii:"deterministic"`
}
type DetLowCardType struct {
	V bloodType `pii:"deterministic"`
}
type DetLowCardTypeOK struct {
	V *bloodType `pii:"deterministic,lowcardinality"`
}
type DetNormalizeValue struct {
	V pii.Value[string] `pii:"deterministic,normalize=lower"`
}
type PseudonymValue struct {
	V pii.Value[string] `pii:"pseudonym"`
}
type PseudonymBytes struct {
	V []byte `pii:"pseudonym"`
}
type HashLowCard struct {
	V []bloodType `pii:"hash"`
}
type TokenizeString struct {
	V *string `pii:"tokenize=card"`
}
type TokenizeBytes struct {
	V []byte `pii:"tokenize=card"`
}
type TokenizeInt struct {
	V int `pii:"tokenize=card"`
}
type TokenizeValue struct {
	V pii.Value[string] `pii:"tokenize=card"`
}
type RedactAnyType struct {
	F func()   `pii:"redact"`
	C chan int `pii:"redact"`
	N int      `pii:"redact"`
	S Contact  `pii:"redact"`
}

// Cases: index=.

type IndexOK struct {
	Email    string `pii:"encrypt"`
	EmailIdx string `pii:"index=Email,normalize=email"`
}
type IndexMissing struct {
	Idx string `pii:"index=Mail"`
}
type IndexOnInt struct {
	Email string
	Idx   int `pii:"index=Email"`
}
type IndexRawJSON struct {
	Email string
	Idx   json.RawMessage `pii:"index=Email"`
}
type IndexOfIndex struct {
	A  string
	I1 string `pii:"index=A"`
	I2 string `pii:"index=I1"`
}
type IndexOfToken struct {
	Card string `pii:"tokenize=card"`
	Idx  string `pii:"index=Card"`
}
type IndexOfRedacted struct {
	Name string `pii:"redact"`
	Idx  string `pii:"index=Name"`
}
type IndexOfSelf struct {
	Idx string `pii:"index=Idx"`
}
type IndexSourceInt struct {
	N   int
	Idx string `pii:"index=N"`
}
type IndexSourcePtr struct {
	S   *string
	N   sql.NullString
	Idx []byte `pii:"index=S+N"`
}
type IndexSourceLowCard struct {
	B   bloodType
	Idx string `pii:"index=B"`
}
type IndexSourceLowCardOK struct {
	B   bloodType
	Idx string `pii:"index=B,lowcardinality"`
}
type IndexSourcePromoted struct {
	Contact
	Idx string `pii:"index=Email"`
}
type IndexSourceUnexported struct {
	email string
	Idx   string `pii:"index=email"`
}

// Cases: mask=.

type MaskClassMismatch struct {
	V string `pii:"encrypt,class=health,mask=phone"`
}
type MaskClassFits struct {
	V string `pii:"encrypt,class=contact,mask=phone"`
}
type MaskPhoneOnEmail struct {
	Email string `pii:"encrypt,mask=phone"`
}
type MaskEmailOnEmail struct {
	WorkEmail string `pii:"encrypt,mask=email"`
}
type MaskNormalizedEmail struct {
	Login string `pii:"deterministic,normalize=email,mask=card"`
}
type MaskYearOnTime struct {
	Born pii.Value[time.Time] `pii:"encrypt,mask=year"`
}
type MaskEmailOnTime struct {
	Born pii.Value[time.Time] `pii:"encrypt,mask=name"`
}
type MaskPhoneOnInt struct {
	V int `pii:"redact,mask=phone"`
}
type MaskTextOnInt struct {
	V int `pii:"redact,mask=text"`
}
type MaskYearOnValueInt struct {
	V pii.Value[int] `pii:"encrypt,mask=year"`
}
type MaskMonthOnString struct {
	V []string `pii:"encrypt,mask=month"`
}
type MaskYearOnTimeRedact struct {
	V time.Time `pii:"redact,mask=year"`
}

// Cases: aad=.

type AADString struct {
	ID string
	V  string `pii:"encrypt,aad=ID"`
}
type AADInt struct {
	ID uint32
	V  string `pii:"encrypt,aad=ID"`
}
type AADTextMarshaler struct {
	ID recordID
	V  string `pii:"encrypt,aad=ID"`
}
type AADMissing struct {
	V string `pii:"encrypt,aad=ID"`
}
type AADSelf struct {
	V string `pii:"encrypt,aad=V"`
}
type AADProtected struct {
	ID string `pii:"encrypt"`
	V  string `pii:"encrypt,aad=ID"`
}
type AADSubject struct {
	ID string `pii:"subject"`
	V  string `pii:"encrypt,aad=ID"`
}
type AADSkipped struct {
	ID string `pii:"-"`
	V  string `pii:"tokenize=card,aad=ID"`
}
type AADFloat struct {
	ID float64
	V  string `pii:"encrypt,aad=ID"`
}
type AADPromoted struct {
	subjKey
	V string `pii:"encrypt,aad=ID"`
}
type AADUnexported struct {
	id string
	V  string `pii:"encrypt,aad=id"`
}

// Cases: from= and retention.

type FromTime struct {
	Created time.Time
	V       string `pii:"encrypt,retain=1y,from=Created"`
}
type FromPtrTime struct {
	Created *time.Time
	V       string `pii:"encrypt,retain=1y,from=Created"`
}
type FromNullTime struct {
	Created sql.NullTime `pii:"-"`
	V       string       `pii:"redact,retain=90d,from=Created"`
}
type FromString struct {
	Created string
	V       string `pii:"encrypt,retain=1y,from=Created"`
}
type FromNamedTime struct {
	Created myTime
	V       string `pii:"encrypt,retain=1y,from=Created"`
}
type FromMissing struct {
	V string `pii:"encrypt,retain=1y,from=Created"`
}
type FromTagged struct {
	Created time.Time `pii:"redact"`
	V       string    `pii:"encrypt,retain=1y,from=Created"`
}
type FromWithoutRetain struct {
	Created time.Time
	V       string `pii:"encrypt,from=Created"`
}
type DefaultFrom struct {
	_       struct{} `pii:"retain=1y,from=Created"`
	Created time.Time
	V       string `pii:"encrypt"`
}
type DefaultFromMissing struct {
	_ struct{} `pii:"purpose=billing,from=Created"`
	V string   `pii:"encrypt"`
}
type DefaultRetainNoFrom struct {
	_ struct{} `pii:"retain=1y"`
	V string   `pii:"encrypt"`
}
type DefaultRetainOnlySubject struct {
	_  struct{} `pii:"retain=1y"`
	ID string   `pii:"subject"`
}
type RetainNoFrom struct {
	V string `pii:"encrypt,retain=1y"`
}
type ThenNoRetain struct {
	V string `pii:"encrypt,then=redact"`
}
type ThenDeleteOnField struct {
	Created time.Time
	V       string `pii:"encrypt,retain=1y,from=Created,then=delete"`
}
type RecordDelete struct {
	_      struct{} `pii:"retain=7y,from=Closed,then=delete"`
	Closed time.Time
	V      string `pii:"encrypt"`
}
type RecordDeleteNoRetain struct {
	_      struct{} `pii:"from=Closed,then=delete"`
	Closed time.Time
}
type RecordDeleteFieldRetain struct {
	_      struct{} `pii:"retain=7y,from=Closed,then=delete"`
	Closed time.Time
	V      string `pii:"encrypt,retain=1y"`
}
type DefaultThenNoRetain struct {
	_ struct{} `pii:"then=shred"`
}
type ShredNoSubject struct {
	Created time.Time
	V       string `pii:"encrypt,purpose=ads,retain=1y,from=Created,then=shred"`
}
type ShredTwoPurposes struct {
	ID      string `pii:"subject"`
	Created time.Time
	V       string `pii:"encrypt,purpose=ads+support,retain=1y,from=Created,then=shred"`
}
type ShredOK struct {
	ID      string `pii:"subject"`
	Created time.Time
	V       string `pii:"encrypt,purpose=ads,retain=1y,from=Created,then=shred"`
}

// Cases: hold.

type HoldBool struct {
	H bool `pii:"hold"`
}
type HoldPtrTime struct {
	H *time.Time `pii:"hold"`
}
type HoldNullTime struct {
	H sql.NullTime `pii:"hold"`
}
type HoldTime struct {
	H time.Time `pii:"hold"`
}
type HoldNamedBool struct {
	H flag `pii:"hold"`
}
type HoldTwo struct {
	H bool       `pii:"hold"`
	G *time.Time `pii:"hold"`
}

// Cases: subject fields.

type SubjectString struct {
	ID string `pii:"subject"`
	V  string `pii:"encrypt,purpose=billing"`
}
type SubjectInt struct {
	ID int64 `pii:"subject"`
}
type SubjectTextMarshaler struct {
	ID recordID `pii:"subject"`
}
type SubjectFloat struct {
	ID float64 `pii:"subject"`
}
type SubjectStruct struct {
	ID plainKey `pii:"subject"`
}
type TwoSubjectsUnnamed struct {
	A string `pii:"subject"`
	B string `pii:"subject"`
	V string `pii:"encrypt"`
}
type TwoSubjectsNamed struct {
	A string `pii:"subject"`
	B string `pii:"subject"`
	V string `pii:"encrypt,subject=A"`
}
type TwoSubjectsTokenize struct {
	A string `pii:"subject"`
	B string `pii:"subject"`
	V string `pii:"tokenize=card"`
}
type SubjectNameMissing struct {
	V string `pii:"encrypt,subject=Owner"`
}
type SubjectNameNotSubject struct {
	Owner string
	V     string `pii:"encrypt,subject=Owner"`
}
type SubjectLongPurpose struct {
	ID string `pii:"subject"`
	V  string `pii:"encrypt,purpose=a123456789b123456789c123456789d123456789e123456789f123456789g1234"`
}
type SubjectPurpose64 struct {
	ID string `pii:"subject"`
	V  string `pii:"encrypt,purpose=a123456789b123456789c123456789d123456789e123456789f123456789g123"`
}

// Cases: nested structs under a subject.

type NestedPurpose struct {
	ID   string `pii:"subject"`
	Addr addrWithPurpose
}
type NestedOwnSubject struct {
	ID   string `pii:"subject"`
	Addr addrOwnSubject
}
type NestedWithoutOuterSubject struct {
	Addr addrWithPurpose
}
type NestedSliceOfPointers struct {
	ID    string `pii:"subject"`
	Addrs []*addrWithPurpose
}
type NestedDefaultPurpose struct {
	ID   string `pii:"subject"`
	Addr addrDefaultPurpose
}
type InheritedBelowSubject struct {
	_    struct{} `pii:"purpose=shipping"`
	ID   string   `pii:"subject"`
	Addr *addrNoPurpose
}
type InheritedKeyed struct {
	_    struct{} `pii:"purpose=shipping"`
	Addr []addrKeyedNoPurpose
}
type InheritedNoSubject struct {
	_    struct{} `pii:"purpose=shipping"`
	Addr addrNoPurpose
}
type InheritedOwnDefault struct {
	_    struct{} `pii:"purpose=billing"`
	ID   string   `pii:"subject"`
	Addr addrDefaultPurpose
}
type NestedInterface struct {
	ID   string `pii:"subject"`
	Addr any
}
type NestedUnexported struct {
	ID   string `pii:"subject"`
	addr addrWithPurpose
}

// Cases: untagged fields and map keys.

type UntaggedValue struct {
	V pii.Value[int]
}
type UntaggedText struct {
	V pii.Text
}
type UntaggedTextPointer struct {
	V *pii.Text
}
type UntaggedValueSlice struct {
	V map[string][]pii.Value[string]
}
type UntaggedUnexportedValue struct {
	v pii.Value[int]
}
type MapKeyTagged struct {
	M map[Contact]int
}
type MapKeyPointerTagged struct {
	M []map[*Contact]string
}
type MapKeyPlain struct {
	M map[plainKey]Contact
}
type MapKeySubjectOnly struct {
	M map[subjKey]int
}

// Cases: unexported and embedded fields.

type UnexportedTagged struct {
	v string `pii:"encrypt"`
}
type UnexportedSkipped struct {
	v string `pii:"-"`
}
type UnexportedEmbeddedTagged struct {
	contact `pii:"-"`
}
type EmbeddedOK struct {
	Contact
	ID string
}
type EmbeddedUnexportedOK struct {
	contact
}
type EmbeddedBad struct {
	badInner
}
type EmbeddedPointer struct {
	*Contact
}
type EmbeddedTagged struct {
	Contact `pii:"encrypt"`
}

// Cases: generics.

type BoxString = Box[string]
type BoxInt = Box[int]
type BoxBool Box[bool]
type HoldsBoxInt struct {
	B []Box[int]
}
type HoldsBoxValue struct {
	B Box[pii.Value[int]]
}
type HoldsPairInt struct {
	P Pair[int]
}
type HoldsPairString struct {
	P *Pair[email]
}
type GenericAADInt = GenericAAD[int]
type GenericAADFloat = GenericAAD[float64]

// Cases: aliases.

type ContactAlias = Contact
type AliasHolder struct {
	A badAlias
}
type AliasString struct {
	V mail `pii:"encrypt"`
}
type AliasInt struct {
	V num `pii:"encrypt"`
}

// Cases: the shared schema.

type UnknownAction struct {
	V string `pii:"encrpyt"`
}
type OptionOfOtherAction struct {
	V string `pii:"redact,key=x"`
}

var parityCases = []parityCase{
	pc[EncString]("EncString", false, ""),
	pc[EncInt]("EncInt", true, "an int needs pii.Value"),
	pc[EncValueInt]("EncValueInt", false, ""),
	pc[EncValueTime]("EncValueTime", false, ""),
	pc[EncValueComplex]("EncValueComplex", true, "complex is no pii.Value kind"),
	pc[EncValueStruct]("EncValueStruct", true, "a struct without marshalers"),
	pc[EncValueBigInt]("EncValueBigInt", false, "*big.Int is a TextMarshaler and TextUnmarshaler"),
	pc[EncValueAny]("EncValueAny", true, "an interface"),
	pc[EncBytes]("EncBytes", false, ""),
	pc[EncRawJSON]("EncRawJSON", true, "json.RawMessage marshals itself"),
	pc[EncByteArray]("EncByteArray", true, "a fixed-size array"),
	pc[EncContainers]("EncContainers", false, "pointers, slices, maps, sql.NullString"),
	pc[EncMap]("EncMap", schemaHasPlainKeys, "a map's keys are stored in clear"),
	pc[EncMapInSlice]("EncMapInSlice", schemaHasPlainKeys, "a map's keys are stored in clear"),
	pc[RedactMap]("RedactMap", false, "redact stores nothing"),
	pc[EncStruct]("EncStruct", true, "a struct"),
	pc[EncInterface]("EncInterface", true, "an interface"),
	pc[EncNamedString]("EncNamedString", false, "a string kind"),
	pc[EncNullInt]("EncNullInt", true, "sql.NullInt64 is a struct"),
	pc[EncSliceOfInt]("EncSliceOfInt", true, "the leaf is an int"),
	pc[DetBool]("DetBool", true, "a bool needs pii.Value"),
	pc[DetValueBool]("DetValueBool", true, "low cardinality"),
	pc[DetValueBoolLow]("DetValueBoolLow", false, "lowcardinality accepts it"),
	pc[DetValueInt64]("DetValueInt64", false, ""),
	pc[DetLowCardType]("DetLowCardType", true, "PIILowCardinality"),
	pc[DetLowCardTypeOK]("DetLowCardTypeOK", false, "lowcardinality accepts it"),
	pc[DetNormalizeValue]("DetNormalizeValue", true, "normalize= on pii.Value"),
	pc[PseudonymValue]("PseudonymValue", true, "a pseudonym is one way"),
	pc[PseudonymBytes]("PseudonymBytes", false, ""),
	pc[HashLowCard]("HashLowCard", true, "low cardinality through a slice"),
	pc[TokenizeString]("TokenizeString", false, ""),
	pc[TokenizeBytes]("TokenizeBytes", true, "tokens are strings"),
	pc[TokenizeInt]("TokenizeInt", true, "tokens are strings"),
	pc[TokenizeValue]("TokenizeValue", true, "tokens are strings"),
	pc[RedactAnyType]("RedactAnyType", false, "redact takes any type"),

	pc[IndexOK]("IndexOK", false, ""),
	pc[IndexMissing]("IndexMissing", true, "no such field"),
	pc[IndexOnInt]("IndexOnInt", true, "an index is a string or []byte"),
	pc[IndexRawJSON]("IndexRawJSON", true, "json.RawMessage"),
	pc[IndexOfIndex]("IndexOfIndex", true, "an index of an index"),
	pc[IndexOfToken]("IndexOfToken", true, "an index of a token"),
	pc[IndexOfRedacted]("IndexOfRedacted", false, "a redacted source"),
	pc[IndexOfSelf]("IndexOfSelf", true, "its own source"),
	pc[IndexSourceInt]("IndexSourceInt", true, "an int source"),
	pc[IndexSourcePtr]("IndexSourcePtr", false, "*string and sql.NullString sources"),
	pc[IndexSourceLowCard]("IndexSourceLowCard", true, "low cardinality source"),
	pc[IndexSourceLowCardOK]("IndexSourceLowCardOK", false, "lowcardinality accepts it"),
	pc[IndexSourcePromoted]("IndexSourcePromoted", true, "a promoted source"),
	pc[IndexSourceUnexported]("IndexSourceUnexported", true, "an unexported source"),

	pc[MaskClassMismatch]("MaskClassMismatch", true, "phone does not fit health"),
	pc[MaskClassFits]("MaskClassFits", false, ""),
	pc[MaskPhoneOnEmail]("MaskPhoneOnEmail", true, "an email named field"),
	pc[MaskEmailOnEmail]("MaskEmailOnEmail", false, ""),
	pc[MaskNormalizedEmail]("MaskNormalizedEmail", true, "normalize=email"),
	pc[MaskYearOnTime]("MaskYearOnTime", false, ""),
	pc[MaskEmailOnTime]("MaskEmailOnTime", true, "a text mask on a time"),
	pc[MaskPhoneOnInt]("MaskPhoneOnInt", true, "a text mask on an int"),
	pc[MaskTextOnInt]("MaskTextOnInt", false, "mask=text fits any type"),
	pc[MaskYearOnValueInt]("MaskYearOnValueInt", true, "a date mask on an int"),
	pc[MaskMonthOnString]("MaskMonthOnString", false, "dates in text"),
	pc[MaskYearOnTimeRedact]("MaskYearOnTimeRedact", false, ""),

	pc[AADString]("AADString", false, ""),
	pc[AADInt]("AADInt", false, ""),
	pc[AADTextMarshaler]("AADTextMarshaler", false, ""),
	pc[AADMissing]("AADMissing", true, "no such field"),
	pc[AADSelf]("AADSelf", true, "the field itself is protected"),
	pc[AADProtected]("AADProtected", true, "a protected record ID"),
	pc[AADSubject]("AADSubject", false, "the subject field"),
	pc[AADSkipped]("AADSkipped", false, `pii:"-"`),
	pc[AADFloat]("AADFloat", true, "a float record ID"),
	pc[AADPromoted]("AADPromoted", true, "a promoted record ID"),
	pc[AADUnexported]("AADUnexported", true, "an unexported record ID"),

	pc[FromTime]("FromTime", false, ""),
	pc[FromPtrTime]("FromPtrTime", false, ""),
	pc[FromNullTime]("FromNullTime", false, ""),
	pc[FromString]("FromString", true, "not a time"),
	pc[FromNamedTime]("FromNamedTime", true, "a defined type is not time.Time"),
	pc[FromMissing]("FromMissing", true, "no such field"),
	pc[FromTagged]("FromTagged", true, "a tagged anchor"),
	pc[FromWithoutRetain]("FromWithoutRetain", false, "from= alone says nothing"),
	pc[DefaultFrom]("DefaultFrom", false, ""),
	pc[DefaultFromMissing]("DefaultFromMissing", true, "no such field"),
	pc[DefaultRetainNoFrom]("DefaultRetainNoFrom", true, "retain= without from="),
	pc[DefaultRetainOnlySubject]("DefaultRetainOnlySubject", false, "no field it applies to"),
	pc[RetainNoFrom]("RetainNoFrom", true, "retain= without from="),
	pc[ThenNoRetain]("ThenNoRetain", true, "then= without retain="),
	pc[ThenDeleteOnField]("ThenDeleteOnField", true, "then=delete is the record's"),
	pc[RecordDelete]("RecordDelete", false, ""),
	pc[RecordDeleteNoRetain]("RecordDeleteNoRetain", true, "then=delete without retain="),
	pc[RecordDeleteFieldRetain]("RecordDeleteFieldRetain", true, "the record rule's from= is not the field's"),
	pc[DefaultThenNoRetain]("DefaultThenNoRetain", true, "then= without retain="),
	pc[ShredNoSubject]("ShredNoSubject", true, "then=shred without a subject"),
	pc[ShredTwoPurposes]("ShredTwoPurposes", true, "then=shred of two purposes"),
	pc[ShredOK]("ShredOK", false, ""),

	pc[HoldBool]("HoldBool", false, ""),
	pc[HoldPtrTime]("HoldPtrTime", false, ""),
	pc[HoldNullTime]("HoldNullTime", false, ""),
	pc[HoldTime]("HoldTime", true, "a time.Time cannot be unset"),
	pc[HoldNamedBool]("HoldNamedBool", true, "a defined bool type"),
	pc[HoldTwo]("HoldTwo", true, "two hold fields"),

	pc[SubjectString]("SubjectString", false, ""),
	pc[SubjectInt]("SubjectInt", false, ""),
	pc[SubjectTextMarshaler]("SubjectTextMarshaler", false, ""),
	pc[SubjectFloat]("SubjectFloat", true, "a float ID"),
	pc[SubjectStruct]("SubjectStruct", true, "a struct ID"),
	pc[TwoSubjectsUnnamed]("TwoSubjectsUnnamed", true, "whose data is V?"),
	pc[TwoSubjectsNamed]("TwoSubjectsNamed", false, ""),
	pc[TwoSubjectsTokenize]("TwoSubjectsTokenize", schemaRefusesInheritance, "no subject= says whose data the struct holds"),
	pc[SubjectNameMissing]("SubjectNameMissing", true, "no such field"),
	pc[SubjectNameNotSubject]("SubjectNameNotSubject", true, "not tagged subject"),
	pc[SubjectLongPurpose]("SubjectLongPurpose", true, "a 65-character purpose names no key"),
	pc[SubjectPurpose64]("SubjectPurpose64", false, "64 characters"),

	pc[NestedPurpose]("NestedPurpose", true, "Forget would not reach it"),
	pc[NestedOwnSubject]("NestedOwnSubject", false, ""),
	pc[NestedWithoutOuterSubject]("NestedWithoutOuterSubject", false, ""),
	pc[NestedSliceOfPointers]("NestedSliceOfPointers", true, "Forget would not reach it"),
	pc[NestedDefaultPurpose]("NestedDefaultPurpose", true, "the nested struct's default purpose"),
	pc[InheritedBelowSubject]("InheritedBelowSubject", schemaRefusesInheritance, "a purpose of the default above does not select the key"),
	pc[InheritedKeyed]("InheritedKeyed", schemaRefusesInheritance, "a purpose of the default above does not select the key"),
	pc[InheritedNoSubject]("InheritedNoSubject", false, "no subject keys involved"),
	pc[InheritedOwnDefault]("InheritedOwnDefault", true, "the nested default's purpose under the outer subject"),
	pc[NestedInterface]("NestedInterface", false, "known at run time only"),
	pc[NestedUnexported]("NestedUnexported", false, "pii does not walk it"),

	pc[UntaggedValue]("UntaggedValue", true, "a pii.Value without a tag"),
	pc[UntaggedText]("UntaggedText", true, "a pii.Text without a tag"),
	pc[UntaggedTextPointer]("UntaggedTextPointer", false, "a *pii.Text is walked as a pointer to a string"),
	pc[UntaggedValueSlice]("UntaggedValueSlice", true, "pii.Values without a tag"),
	pc[UntaggedUnexportedValue]("UntaggedUnexportedValue", false, "pii does not walk it"),
	pc[MapKeyTagged]("MapKeyTagged", true, "a map key cannot be protected"),
	pc[MapKeyPointerTagged]("MapKeyPointerTagged", true, "a map key cannot be protected"),
	pc[MapKeyPlain]("MapKeyPlain", false, ""),
	pc[MapKeySubjectOnly]("MapKeySubjectOnly", schemaHidesSubject, "a subject ID, personal data once views hide it"),

	pc[UnexportedTagged]("UnexportedTagged", true, "pii cannot reach it"),
	pc[UnexportedSkipped]("UnexportedSkipped", true, `pii:"-" on an unexported field`),
	pc[UnexportedEmbeddedTagged]("UnexportedEmbeddedTagged", true, "a tag on an unexported embedded field"),
	pc[EmbeddedOK]("EmbeddedOK", false, ""),
	pc[EmbeddedUnexportedOK]("EmbeddedUnexportedOK", false, "its exported fields are promoted"),
	pc[EmbeddedBad]("EmbeddedBad", true, "the embedded struct is invalid"),
	pc[EmbeddedPointer]("EmbeddedPointer", false, ""),
	pc[EmbeddedTagged]("EmbeddedTagged", true, "encrypt on a struct"),

	pc[BoxString]("BoxString", false, ""),
	pc[BoxInt]("BoxInt", true, "Box[int] encrypts an int"),
	pc[BoxBool]("BoxBool", true, "Box[bool] encrypts a bool"),
	pc[HoldsBoxInt]("HoldsBoxInt", true, "Box[int] encrypts an int"),
	pc[HoldsBoxValue]("HoldsBoxValue", false, ""),
	pc[HoldsPairInt]("HoldsPairInt", true, "Pair[int] holds Box[int]"),
	pc[HoldsPairString]("HoldsPairString", false, ""),
	pc[GenericAADInt]("GenericAADInt", false, ""),
	pc[GenericAADFloat]("GenericAADFloat", true, "a float record ID"),

	pc[ContactAlias]("ContactAlias", false, ""),
	pc[AliasHolder]("AliasHolder", true, "the alias names an invalid struct"),
	pc[AliasString]("AliasString", false, ""),
	pc[AliasInt]("AliasInt", true, "an alias of int"),

	pc[UnknownAction]("UnknownAction", true, "a typo"),
	pc[OptionOfOtherAction]("OptionOfOtherAction", true, "redact takes no key="),
}
