package pii

import (
	"reflect"

	"github.com/tillid/tillid/internal/envelope"
	"github.com/tillid/tillid/keys"
)

// Action names what a pii tag does to a field's value, for code that
// handles stored values without their Go struct ([Column], [StoredLen],
// [KeyID]). The zero Action, ActionUnknown, is invalid.
type Action uint8

const (
	// ActionUnknown is the invalid zero Action.
	ActionUnknown Action = iota
	// ActionEncrypt is the encrypt action: Tink AES-256-GCM.
	ActionEncrypt
	// ActionDeterministic is the deterministic action: Tink AES-256-SIV.
	ActionDeterministic
	// ActionBlindIndex is the index= action: a truncated HMAC-SHA256.
	ActionBlindIndex
	// ActionPseudonym is the pseudonym action (formerly hash): a keyed
	// HMAC-SHA256 pseudonym in place of the value.
	ActionPseudonym
	// ActionTokenize is the tokenize= action: a vaulted or FF1 token.
	ActionTokenize
)

// String returns the action's name as written in tags, such as "encrypt",
// or "unknown".
func (a Action) String() string {
	if r := actionRow(a); r != nil {
		return r.name
	}
	return "unknown"
}

// action is one row of the action table: everything pii knows about one
// tag action. Each row lives in the file named after it (encrypt.go,
// deterministic.go, index.go, pseudonym.go, tokenize.go, redact.go,
// skip.go); a field's plan points at its row, as encoding/json keeps a
// field's encoder, and nothing in pii switches on the action.
type action struct {
	// name is the action as tags write it; its options and their syntax
	// are in internal/tag's schema.
	name string
	// id is the exported name of the action; ActionUnknown for redact and
	// skip, which store nothing.
	id Action
	// keyKind is the kind of keyset the action uses; KindUnknown for none.
	keyKind keys.Kind
	// mode is the envelope the action stores; 0 for none.
	mode envelope.Mode
	// prfLabel separates the PRF uses of a PRF keyset (index, pseudonym).
	prfLabel string

	// check is the plan-time type check: it returns the walk node of a
	// field of type t tagged with f.tag in the struct planned by owner, or
	// why the type does not suit the action. It may fill f (index
	// sources). It is nil for skip, whose fields are not walked.
	check func(b *planBuilder, owner *typePlan, t reflect.Type, f *fieldPlan) (*node, error)
	// field, when set, handles the whole field value rather than its
	// leaves: redact zeroes it, index computes it from its sources.
	field func(r *run, v reflect.Value) error
	// protect, reveal and rewrap transform the stored or plaintext form in
	// of one leaf (text: a string field's form, else a []byte field's) and
	// report whether it changed.
	protect, reveal, rewrap leafFunc
	// seal protects a plaintext that is known to be one (a pii.Value in
	// its plaintext state); nil for actions a pii.Value cannot take.
	seal func(r *run, pt []byte, text bool) ([]byte, error)
	// recognise reports whether in looks like a stored value of the
	// action (or of any tillid action, which it then must verify).
	recognise func(in []byte) bool
	// verify checks a value that recognise accepted, before Protect keeps
	// it as already protected: a look-alike fails with ErrDecryption.
	verify func(r *run, in []byte, text bool) error
	// size is the stored size in bytes of a plaintext of n bytes (for
	// index and pseudonym: of an index of n bytes), in a string field when
	// text is set; -1 when it cannot be told.
	size func(n int, text bool) int
	// keyIDOf returns the key ID of a stored value of the action, and
	// false when stored is not one.
	keyIDOf func(stored []byte, text bool) (uint32, bool)
	// lookup returns the stored forms a query can take in the field, one
	// per enabled key of ks; nil for actions that cannot be searched.
	lookup func(r *run, ks *keys.Keyset, query []string) ([]string, error)
	// source says how a blind index reads a source field of this action.
	source sourceUse
	// redacts tells Redacted to hide the field's value.
	redacts bool
}

// sourceUse is how an index= field reads one of its source fields.
type sourceUse uint8

const (
	// sourceRefused: the action's stored values cannot be indexed.
	sourceRefused sourceUse = iota
	// sourcePlain: the source holds plaintext (untagged or skip).
	sourcePlain
	// sourceOpened: the source may already be protected, and is opened.
	sourceOpened
	// sourceRedacted: the source is emptied by Protect; an empty source
	// keeps the index already stored.
	sourceRedacted
)

// leafFunc transforms one leaf value; see action.protect.
type leafFunc func(r *run, in []byte, text bool) (out []byte, changed bool, err error)

// actionTable holds every row, the deprecated aliases included. Adding an
// action is one row here and one file.
var actionTable = [...]*action{encryptAction, deterministicAction, indexAction, pseudonymAction, hashAction, tokenizeAction, redactAction, subjectAction, holdAction, skipAction}

// actionNamed returns the row of the action named name in tags, or nil.
func actionNamed(name string) *action {
	for _, a := range actionTable {
		if a.name == name {
			return a
		}
	}
	return nil
}

// actionRow returns the row of an exported Action, or nil.
func actionRow(a Action) *action {
	if a == ActionUnknown {
		return nil
	}
	for _, r := range actionTable {
		if r.id == a {
			return r
		}
	}
	return nil
}

// leafFor returns the leaf function of the run's verb.
func (a *action) leafFor(v verb) leafFunc {
	switch v {
	case verbReveal:
		return a.reveal
	case verbRewrap:
		return a.rewrap
	}
	return a.protect
}

// reversible reports whether the action's stored values reveal to their
// plaintext (encrypt, deterministic).
func (a *action) reversible() bool { return a.seal != nil }
