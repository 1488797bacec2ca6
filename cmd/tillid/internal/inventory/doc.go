// Package inventory builds the data map of tillid from Go source: the
// record of processing activities (GDPR Art. 30) of every pii-tagged field,
// found in the types of packages loaded with go/packages (nothing is run),
// rendered as Markdown, JSON or CSV, and checked against a policy.
//
// Use [Load], then [Build], then [Register.WriteFormat] or [Policy.Check].
//
// # Processing options
//
// Besides the options of package pii (checked by tag.CheckStatic), a field
// tag may say why and how long the field is held:
//
//	purpose=<name>[+<name>...]   the purposes, as in purpose=billing or purpose=marketing+profiling;
//	                             names are a-z, 0-9, '_' and '-', starting with a letter
//	basis=<basis>                the Art. 6(1) lawful basis: consent, contract, legal_obligation,
//	                             vital_interests, public_task or legitimate_interests
//	retain=<period>              how long it is kept: 90d, 26w, 2y (a year is 365 days), or a Go
//	                             duration of at least an hour (720h)
//	from=<Field>                 the time field of the same struct the retention is counted from
//
//	Email string `pii:"encrypt,class=contact,purpose=account,basis=contract,retain=2y,from=Created"`
//
// and one field of a struct may be the data subject's ID, which ties the
// record to the person it is about:
//
//	ID string `pii:"subject"`
//
// subject takes the processing options but no others. As at run time
// (pii.Inventory), the register binds a field to the subject field of its
// own struct, and only when it is sealed under the subject's keys (encrypt,
// deterministic). A struct nested in the record is not under the record's
// subject; a sealed field there that names a purpose (its own purpose= or
// its struct's default), with no subject field in the nested struct, is an
// error, as pii refuses it: Forget and Withdraw would not reach it.
//
// # Struct-level defaults
//
// A type says its purpose and basis once with a blank field whose tag has
// only processing options, the first of them in the action's place:
//
//	type Customer struct {
//		_       struct{} `pii:"purpose=account,basis=contract,retain=5y,from=Created,subjects=customer"`
//		ID      string   `pii:"subject"`
//		Created time.Time
//		Email   string `pii:"encrypt,class=contact"`                           // account, contract, 5y from Created
//		Ads     string `pii:"encrypt,purpose=marketing,basis=consent,retain=1y"` // its own purpose, basis and period
//	}
//
// A default may hold purpose=, basis=, retain=, from= and subjects= (the
// categories of data subjects, '+'-joined, shown in the Markdown record;
// without it the record names the type). A field's own options win over
// its struct's default, which wins over the defaults of the structs it is
// nested in. A struct has at most one default field.
//
// # What is listed
//
// Every named struct type of the packages that holds a tagged field,
// directly or through nested and embedded structs, pointers, slices,
// arrays and map values, is listed from its top with Go paths such as
// example.com/shop.Customer.Shipping[].Street; a type held by another such
// type of the packages is listed under that type only. Generic types are
// listed where they are instantiated, and with their type parameters
// (Pair[K, V]) when no listed type instantiates them. Types of other
// packages and modules are walked into (Field.DeclaredIn names them).
// Types declared inside functions are listed as pkg.Func.Type.
// Notes, never silence, cover what the types cannot show: aliases (listed
// under the type they name when it is ours, else under the alias), type
// parameters, interface fields (pii walks what they hold at run time),
// recursive types, and anonymous struct types outside named types whose
// own fields are tagged (var x struct{...}). Invalid tags and packages that do not build are errors:
// no partial register is returned.
package inventory
