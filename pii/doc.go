// Package pii protects the personal data in Go structs. Mark fields with
// `pii:"..."` tags, build a [Protector] with [New] over a key provider from
// package keys, and call [Protector.Protect] before a struct is stored or
// sent, and [Protector.Reveal] after it is read back:
//
//	type Customer struct {
//		ID    string               `pii:"-"`
//		Email string               `pii:"deterministic,class=contact"`
//		Name  string               `pii:"encrypt,class=identity,aad=ID"`
//		Born  pii.Value[time.Time] `pii:"encrypt,class=identity,aad=ID"`
//		Notes string               `pii:"redact"`
//	}
//
//	p, err := pii.New(store)            // store: a keys.Provider
//	err = p.Protect(ctx, &c)            // before INSERT
//	err = p.Reveal(ctx, &c)             // after SELECT
//
// Call [Validate] in tests or at start-up to check the tags
// of every type early.
//
// # Tag syntax
//
// A tag is an action, then options, separated by commas, with no spaces:
// `pii:"action,option=value,flag"`. Parsing is strict: an unknown action or
// option, a repeated option, a tag on an unexported field or on a type the
// action does not support is an [ErrInvalidTag] naming the field and the fix,
// never a silent skip.
//
// Actions:
//
//	encrypt         randomised encryption (Tink AES-256-GCM). Equal
//	                plaintexts give different ciphertexts.
//	                `pii:"encrypt"`
//	deterministic   deterministic encryption (Tink AES-256-SIV). Equal
//	                plaintexts in the same field give equal ciphertexts, so
//	                the column can be searched and joined by equality.
//	                `pii:"deterministic,class=contact"`
//	index=<Fields>  a blind index: Protect stores in this field (a string
//	                or []byte) a keyed PRF (Tink HMAC-SHA256, a PRF keyset
//	                of its own) of the normalised plaintext of Fields, bound
//	                to the type and this field's name, with the PRF key ID.
//	                Fields is one field of the same struct, or several joined
//	                with '+' for a compound index. Search it with
//	                [Protector.LookupTerms]. `pii:"index=Email,normalize=email"`
//	                `pii:"index=Name+Born,normalize=lower"`
//	pseudonym       a keyed pseudonym replaces the value itself (one-way):
//	                joins and analytics without the original.
//	                `pii:"pseudonym,normalize=email"`. The action's
//	                first name, hash, still works (deprecated): it reads
//	                and writes the same stored values ("tl1h:").
//	tokenize=<d>    tokenization in domain d: Protect replaces the value
//	                with a token from the vaulted tokenizer or FF1 cipher
//	                registered for d with [WithVault] or [WithFPE], stored
//	                as "tl1t:<token>" or "tl1f:<key ID>:<token>" ([Token]
//	                strips the prefix); Reveal swaps it back. Options:
//	                format=<name> (checked against the domain's token
//	                format, such as card-6-4, keep-last-4 or ff1), aad=,
//	                migrate, class=. `pii:"tokenize=card,format=card-6-4"`
//	subject         the field holds the ID of the data subject the record
//	                is about (a string, integer or TextMarshaler): the
//	                struct's encrypt and deterministic fields are sealed
//	                under that subject's keys ([WithSubjectKeys],
//	                [Protector.Forget]). The ID is stored as it is, but it
//	                identifies a person: [Redacted] shows it as [redacted],
//	                and a view as its mask= or null unless its view= names
//	                the role. `pii:"subject,view=api:plain"`
//	redact          the field is set to its zero value by Protect: the data
//	                is never stored (data minimisation, GDPR Art. 5(1)(c)).
//	                Any type. `pii:"redact"`
//	-               the field is not personal data and is not walked into.
//	                `pii:"-"`
//
// Options of encrypt and deterministic:
//
//	class=<category>  the data category, for the record of processing:
//	                  contact, identity, financial, health, national_id,
//	                  location or special (GDPR Art. 9 special categories).
//	                  `pii:"encrypt,class=health"`. redact accepts it too.
//	key=<name>        the keyset to use; default "default". Names are 1 to
//	                  64 characters of a-z, 0-9, '_', '.', '-'.
//	                  `pii:"encrypt,key=billing"`
//	aad=<Field>       binds the ciphertext to the value of Field, a string,
//	                  integer or encoding.TextMarshaler field of the same
//	                  struct that is not itself protected (usually the record
//	                  ID): a ciphertext copied into another record does not
//	                  reveal. Protect fails with [ErrMissingRecordID] while
//	                  Field holds its zero value. `pii:"encrypt,aad=ID"`
//	maxlen=<n>        Protect fails with [ErrTooLong] rather than produce a
//	                  stored value longer than n bytes, so that the database
//	                  never truncates a ciphertext. See [StoredLen].
//	                  `pii:"encrypt,maxlen=255"`
//	migrate           Reveal lets plaintext through (counted in
//	                  [Protector.Stats]) and Rewrap protects it: for columns
//	                  being migrated from plaintext. `pii:"encrypt,migrate"`
//	lowcardinality    accept deterministic encryption, an index or a pseudonym of
//	                  a type with few values (bool and 8- and 16-bit integers
//	                  in a Value, types implementing [LowCardinality]), which
//	                  otherwise is refused. `pii:"deterministic,lowcardinality"`
//	plainkeys         accept a map field (encrypt, deterministic, pseudonym,
//	                  tokenize, redact), whose keys are stored, shown by
//	                  views and passed to the database as they are: only its
//	                  values are protected. Without it a map is refused,
//	                  since its keys may be personal data (a map by email
//	                  address): use a slice of structs with the key and the
//	                  value as fields, both tagged. `pii:"encrypt,plainkeys"`
//	normalize=<rules> deterministic, index and pseudonym: canonicalise the value
//	                  the same way on write and on lookup. Rules trim, nfkc,
//	                  lower, email, digits, chained with '+' (see
//	                  [Normalize]). An index or pseudonym normalises only what it
//	                  computes; a deterministic field stores, and so
//	                  reveals, the normalised form. `pii:"deterministic,normalize=digits"`
//
// Options of index and pseudonym (with class=, key=, normalize= and
// lowcardinality):
//
//	bits=<n>          truncate the index to n bits (1 to 256; default 128),
//	                  so that each index value matches several plaintexts
//	                  and the index alone does not identify a value. Pick n
//	                  with [RecommendBits]. `pii:"index=Email,bits=14"`
//	part=<p>          index only part of the value: domain or local (of an
//	                  email address), firstN or lastN characters.
//	                  `pii:"index=Card,normalize=digits,part=last4"`
//
// Field types: encrypt, deterministic and pseudonym take string and named string types,
// []byte, sql.NullString and (not pseudonym) [Value] (for int64, float64, bool,
// time.Time and other marshalable types), and pointers, slices and arrays
// of those, and, with plainkeys, maps of them (only the values are
// protected). An index field is a string or []byte whose sources
// are strings, []byte, *string or sql.NullString fields; a nil source
// empties the index, and the index of a redact source is kept when the
// source has been emptied (store the index, not the value).
//
// Untagged fields that hold structs — values, pointers, embedded structs
// (also of unexported types), slices, arrays and maps of them — are walked
// into, and so are interface fields, by the type of the value they hold at
// run time (a tagged struct held by value is protected in a copy that
// replaces it). Unexported fields are not walked. time.Time, sql.Null* and
// other types without tagged fields are left alone. One value shared by two
// protected fields (through a pointer, say) is refused with
// [ErrInvalidTarget]: its ciphertext could be bound to only one of them.
//
// # Masks and views
//
// encrypt, deterministic, tokenize, redact and subject take mask=<kind>, the display
// mask a view shows (never stored), and view=<role>:<sight>[+…] with sight
// plain, mask or hide (see [View]). Masks ([Mask]), each "•••" for input
// it does not recognise and "" for "":
//
//	email     a•••@example.com (first character when the local part has three or more)
//	phone     •••78 (6 to 9 digits: the last two), •••5678 (10 to 15: the last four)
//	card      •••• •••• •••• 3749 (12 to 19 digits)
//	card-6-4  492913••••••3749 (15 digits or more, else as card)
//	iban      DK•• •••• •••• 6243 (ISO 13616 check digits verified)
//	cpr       ••••••-•••• (a valid Danish CPR: no digit, as its six are the
//	          birth date and its last four, the control digits, the century and sex)
//	ssn       •••-••-6789 (a valid US SSN)
//	name      A. K. L. (initials, at most four)
//	first     L••• (the first character of three or more)
//	text      ••• (nothing)
//	year      1815, month 1815-12 (time.Time, pii.Value[time.Time], ISO 8601 text)
//
// The keys of a tagged map are personal data unless the tag says
// plainkeys: a view that shows the field masked shows the map as the list
// of its masked values in key order, without the keys, and shows the keys
// only to a reader who sees the field plain ([Plain], view=<role>:plain);
// [Redacted] shows no key of any map.
//
// A mask that does not fit the field is an [ErrInvalidTag]: a text mask
// on a non-text type, a mask whose class does not match class= (card,
// card-6-4 and iban are financial, cpr and ssn national_id or identity,
// phone contact, email contact or identity, name identity or contact), and
// phone, card, card-6-4, iban, cpr or ssn on a field named like an email
// address or with normalize=email. [Plain] is the one way to encode revealed pii.Value
// and pii.Text fields to JSON (their MarshalJSON refuses plaintext);
// [View.JSON] and [Masked] show less, and [Redacted] is for logs.
//
// # Behaviour
//
// Protect and Reveal are all or nothing: on error the struct is unchanged.
// Protect is idempotent: values that are already tillid ciphertexts for
// their field are left alone. Reveal fails closed with [ErrNotProtected] on
// plaintext and [ErrDecryption] on anything that does not authenticate,
// including a stored value of another action or mode (a "tl1e:" ciphertext
// in a tokenize= field), which migrate never lets through as plaintext. Nil
// pointers, nil slices and maps, invalid sql.NullStrings and null Values
// stay as they are; empty strings and empty non-nil byte slices are
// encrypted, so that "empty" and "absent" stay distinct (except under a
// subject key that Forget or Withdraw erased: there no key is left to seal
// them, so they stay empty and Reveal reports them erased, which shows that
// the erased field was empty when saved again). Pointer cycles and
// values reachable along two paths are protected once. Values nesting more
// than 1,000 levels deep are refused with [ErrTooDeep].
//
// # Lookups
//
// An index, pseudonym or deterministic field can be searched without decrypting
// the table: [Protector.LookupTerms] returns the stored form of a query
// value under every live key of the field's keyset, primary first, so that
//
//	SELECT ... WHERE email_idx IN (?, ?)
//
// finds rows written before and after a key rotation. After
// [Protector.Rewrap] has recomputed every row (it recomputes indexes under
// an old key and re-encrypts deterministic values) and the old key is
// disabled, the list shrinks to one term. [Protector.BlindIndexer] computes
// the primary term alone, without allocating, for hot paths.
//
// # Key management
//
// Keys come from a keys.Provider: keys.NewMemory for tests, keys.OpenFile
// for one process (keysets encrypted under a master key or KMS key). Each
// key name has one keyset per kind (AEAD for encrypt, deterministic AEAD for
// deterministic). After a rotation new values use the new primary key and
// old ones keep revealing, because each ciphertext names its key ID.
// [Protector.Rewrap] moves stored values to the primary key; once every
// record is rewrapped the old key can be disabled, and values still under
// it fail with [ErrKeyDisabled].
//
// # Wire format
//
// A protected string field holds "tl1e:" (encrypt) or "tl1d:"
// (deterministic) followed by the unpadded base64url (RFC 4648 §5) of the
// Tink ciphertext; a []byte field holds the same 5-byte prefix followed by
// the raw Tink ciphertext. The Tink ciphertext is 0x01 || key ID (4 bytes,
// big-endian) || nonce (12 bytes) || ciphertext || tag (16 bytes) for
// encrypt, and 0x01 || key ID || synthetic IV (16 bytes) || ciphertext for
// deterministic. [StoredLen] and [StoredLenBytes] give the sizes.
//
// The associated data of each ciphertext is the concatenation of
// "tillid/v1/field", the declaring struct type's name (without its package),
// the field's name, the aad= field's value (empty without aad=) and the
// Protector's [WithAssociatedData], each preceded by its length as 4 bytes
// big-endian. Renaming a type or a field therefore makes its stored values
// unreadable: keep the names, or rewrap before renaming. Moving a type to
// another package changes nothing, except for generic types, whose names
// include their type arguments' packages. Unnamed struct types are named by
// their whole literal.
//
// # Security considerations
//
//   - encrypt leaks the approximate plaintext length: the stored value is
//     longer than the plaintext by a fixed amount ([StoredLen]). Pad values
//     yourself where length is sensitive.
//   - deterministic leaks equality within a field: whoever sees the column
//     sees which records share a value, and how often each value occurs,
//     which reveals low-cardinality values by frequency analysis (hence the
//     lowcardinality opt-in). It also leaks length. It does not leak across
//     fields: the same text in two fields encrypts differently.
//   - Without aad=, a ciphertext can be moved to the same field of another
//     record of the same type and still reveal there.
//   - index and pseudonym reveal equality too: an untruncated (128-bit) index
//     is as revealing as deterministic encryption, plus the PRF key ID. A
//     truncated index (bits=) maps several plaintexts to each index value,
//     so it reveals less but returns false positives, which the caller
//     filters after decryption. Several indexes over one field add their
//     leakage up: a full index on the domain and one on the local part
//     together identify the address. Indexes and pseudonyms are one-way, but
//     values from a small or guessable set can be confirmed by whoever
//     holds the PRF key.
//   - The normalisers are versioned (a version number) inside every
//     index and pseudonym, so a future change to a rule cannot silently make
//     old rows unfindable; it comes with a re-index.
//   - tokenize leaks what the token format keeps (length, alphabet, the
//     first six and last four digits of a card with card-6-4) and, in a
//     consistent vault or with FF1 without aad=, equality. FF1 does not
//     authenticate: a token changed in storage reveals to a wrong value.
//   - redact is the only action that leaves nothing to leak.
//   - Errors never contain plaintexts, ciphertexts or key material, and map
//     keys (which may be personal data) show as "[…]" in error paths.
//   - AES-256-GCM with random 96-bit nonces should protect at most 2^32
//     values per key; rotate well before that.
package pii
