package keys

import "context"

// Keysets returns the keysets of the provider that the subject keys rest
// on: the KindAEAD keyset that wraps every subject key (named by
// [WithWrappingKeyName]) and the KindPRF keyset of subject pseudonyms
// (named by [WithPseudonymKeyName]). It is safe for concurrent use.
func (s *SubjectKeys) Keysets() []KeysetID {
	return []KeysetID{{Name: s.cfg.wrapName, Kind: KindAEAD}, {Name: s.cfg.prfName, Kind: KindPRF}}
}

// Check is [Check] of the subject keys' [SubjectKeys.Keysets] against the
// provider they were built with: the start-up check that the wrapping and
// pseudonym keysets are there and work. It does not read the subject key
// store. It returns Check's errors and is safe for concurrent use when the
// provider is.
func (s *SubjectKeys) Check(ctx context.Context) error {
	return Check(ctx, s.provider, s.Keysets()...)
}
