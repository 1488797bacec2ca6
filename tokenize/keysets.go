package tokenize

import "github.com/tillid/tillid/keys"

// Keysets returns the keysets the tokenizer uses: the AEAD keyset that
// encrypts its values and the PRF keyset of its indexes, both named by its
// key name ("tokenize-<domain>" unless [WithKeyName] says otherwise). Pass
// them to keys.Check at start-up, so that a tokenizer whose keys are missing
// fails before the first Tokenize.
func (t *Tokenizer) Keysets() []keys.KeysetID {
	return []keys.KeysetID{{Name: t.keyName, Kind: keys.KindAEAD}, {Name: t.keyName, Kind: keys.KindPRF}}
}

// Keysets returns the PRF keyset from which the FPE derives its FF1 keys,
// named by its key name ("tokenize-<domain>" unless [WithKeyName] says
// otherwise), for keys.Check at start-up.
func (f *FPE) Keysets() []keys.KeysetID {
	return []keys.KeysetID{{Name: f.keyName, Kind: keys.KindPRF}}
}
