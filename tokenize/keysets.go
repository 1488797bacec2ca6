package tokenize

import (
	"context"

	"github.com/tillid/tillid/keys"
)

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

// Check is keys.Check of the tokenizer's [Tokenizer.Keysets] against the
// provider it was built with: the start-up check that its keys are there
// and work. It does not call the token store. It returns keys.Check's
// errors and is safe for concurrent use when the provider is.
func (t *Tokenizer) Check(ctx context.Context) error {
	return keys.Check(ctx, t.provider, t.Keysets()...)
}

// Check is keys.Check of the FPE's [FPE.Keysets] against the provider it
// was built with. It returns keys.Check's errors and is safe for
// concurrent use when the provider is.
func (f *FPE) Check(ctx context.Context) error {
	return keys.Check(ctx, f.provider, f.Keysets()...)
}
