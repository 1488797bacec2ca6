package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrKeysetExists means [Store.Import] was given the name and kind of a
// keyset the store already holds; nothing was changed.
var ErrKeysetExists = errors.New("keys: keyset already exists")

// Import stores the Tink keyset h as keyset name/kind, so that a team
// moving from plain Tink keeps reading its data: values its Tink primitives
// made under h decrypt through the imported [Keyset]'s primitives, and new
// values are protected under h's primary until the next [Store.Rotate].
//
// h is typically read with Tink from the keyset a plain-Tink deployment
// keeps encrypted under its KEK, what keyset.Handle.Write produced:
//
//	h, err := keyset.Read(keyset.NewJSONReader(f), kek) // or keyset.NewBinaryReader
//	ks, err := store.Import(ctx, "default", keys.KindAEAD, h)
//
// or with Read of package keys/insecurecleartext from a cleartext keyset. Every key must
// be of the type the kind uses (AES-GCM, AES-SIV or HMAC PRF; see [Kind])
// and, for AEAD and deterministic AEAD, have Tink's output prefix
// (OutputPrefixType TINK, Tink's default), because tillid's envelopes carry
// the key ID of that 5-byte prefix. Keys with the LEGACY, CRUNCHY or RAW
// prefix are refused; decrypt their values with Tink and protect them
// again. The imported keys have no creation time ([KeyInfo.Created] is zero).
//
// Import is an explicit creation: a file store opened without
// [WithCreateMissing] accepts it. It returns [ErrKeysetExists] when the
// store holds name/kind already, [ErrNoPrimaryKey] for a nil handle or one
// without an enabled primary, [ErrInvalidKind] for KindUnknown, an error
// naming the key for a key of another type or prefix, and the storage error
// when the keyset could not be written, in which case the store is
// unchanged. It sends [EventKeysetImported]. It is safe for concurrent use.
func (r *Store) Import(ctx context.Context, name string, kind Kind, h *keyset.Handle) (*Keyset, error) {
	id := KeysetID{name, kind}
	imported, err := importable(id, h)
	if err != nil {
		return nil, err
	}
	return r.commit(ctx, id, importInto(id, imported))
}

// Import stores the Tink keyset h as keyset name/kind in the table, as
// [Store.Import] describes, with the same checks and errors: values a
// plain-Tink deployment made under h read through the imported keyset, on
// every instance that shares the table, at once (a missing keyset is not
// cached). It is an explicit creation: a store
// opened without [WithCreateMissing] accepts it. The row is written only if
// the table still has no keyset name/kind, so two concurrent imports of one
// name store one keyset and the other gets [ErrKeysetExists]. It sends
// [EventKeysetImported] once the row is written, and [EventKMSFailure]
// (with an error wrapping [ErrKMSUnavailable]) when the KEK could not wrap
// it. It is safe for concurrent use.
func (s *SQLStore) Import(ctx context.Context, name string, kind Kind, h *keyset.Handle) (*Keyset, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	id := KeysetID{name, kind}
	imported, err := importable(id, h)
	if err != nil {
		return nil, err
	}
	return s.commit(ctx, id, importInto(id, imported))
}

// importInto is the change of every store's Import: keyset id becomes
// imported, unless the store holds id already.
func importInto(id KeysetID, imported *Keyset) func(old *Keyset, _ time.Time) (*Keyset, []Event, error) {
	return func(old *Keyset, _ time.Time) (*Keyset, []Event, error) {
		if old != nil {
			return nil, nil, fmt.Errorf("keys: keyset %s already exists (primary key %d); import under another name: %w", id, old.PrimaryKeyID(), ErrKeysetExists)
		}
		return imported, []Event{{Type: EventKeysetImported, Keyset: id, KeyID: imported.PrimaryKeyID()}}, nil
	}
}

// importable checks that h can be imported as keyset id, as [Store.Import]
// documents, and returns it as a Keyset. It touches no store, so that every
// store's Import can share it.
func importable(id KeysetID, h *keyset.Handle) (*Keyset, error) {
	if err := validKeyName(id.Name); err != nil {
		return nil, err
	}
	tmpl, err := id.Kind.template()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("keys: importing %s: nil handle: %w", id, ErrNoPrimaryKey)
	}
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		if ki.GetTypeUrl() != tmpl.GetTypeUrl() {
			return nil, fmt.Errorf("keys: importing %s: key %d is a %s, want %s for a %s keyset", id, ki.GetKeyId(), ki.GetTypeUrl(), tmpl.GetTypeUrl(), id.Kind)
		}
		if id.Kind != KindPRF && ki.GetOutputPrefixType() != tinkpb.OutputPrefixType_TINK {
			return nil, fmt.Errorf("keys: importing %s: key %d has output prefix %s, want TINK: tillid's envelopes carry the key ID of Tink's prefix", id, ki.GetKeyId(), ki.GetOutputPrefixType())
		}
	}
	return NewKeyset(id.Name, id.Kind, h)
}

// Export returns keyset name/kind as a Tink JSON encrypted keyset
// ({"encryptedKeyset": ..., "keysetInfo": ...}) under kek with
// associatedData, for escrow or for a move to another store or KMS: what
// keyset.Handle.WriteWithAssociatedData writes, so plain Tink reads it with
// keyset.ReadWithAssociatedData(keyset.NewJSONReader(r), kek,
// associatedData) (keyset.Read when associatedData is empty), and
// [Store.Import] takes the handle. The keysetInfo part lists key IDs,
// types and statuses in clear, never key material. kek is called with ctx
// when it takes one, and its answer is unwrapped again and compared before
// Export returns it. Destroyed keys are not in a Tink keyset and are not
// exported: in the store that imports it, values under them read as
// [ErrKeyNotFound].
//
// Export sends [EventKeysetExported] to the store's auditor once the
// keyset is wrapped. It returns [ErrInvalidKEK] for a nil kek,
// [ErrKeysetNotFound] when the store has no keyset name/kind,
// [ErrKMSUnavailable] when kek could not be reached, and the KEK's failure
// otherwise. There is no cleartext export here; package
// keys/insecurecleartext has one, under a name that says what it is. It is
// safe for concurrent use.
func (r *Store) Export(ctx context.Context, name string, kind Kind, kek tink.AEAD, associatedData []byte) ([]byte, error) {
	id := KeysetID{name, kind}
	if kek == nil {
		return nil, fmt.Errorf("keys: exporting %s: nil KEK: %w", id, ErrInvalidKEK)
	}
	if r.file != nil {
		if err := r.reload(ctx); err != nil {
			return nil, err
		}
	}
	r.mu.RLock()
	ks := r.sets[id]
	r.mu.RUnlock()
	if ks == nil {
		return nil, fmt.Errorf("keys: exporting %s: the store has no such keyset: %w", id, ErrKeysetNotFound)
	}
	return exportKeyset(ctx, r.auditor, id, ks, kek, associatedData)
}

// Export returns keyset name/kind as a Tink JSON encrypted keyset under
// kek with associatedData, as [Store.Export] describes, with the same
// errors and audit event ([EventKeysetExported]). It reads the row as
// stored now, bypassing the cache (one database read and one KEK unwrap),
// so that a key destroyed or disabled by another process a moment ago is
// exported as it is now: a destroyed key not at all, a disabled key as
// disabled. It is safe for concurrent use.
func (s *SQLStore) Export(ctx context.Context, name string, kind Kind, kek tink.AEAD, associatedData []byte) ([]byte, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	id := KeysetID{name, kind}
	if kek == nil {
		return nil, fmt.Errorf("keys: exporting %s: nil KEK: %w", id, ErrInvalidKEK)
	}
	if err := validKeyName(name); err != nil {
		return nil, err
	}
	if _, err := kind.template(); err != nil {
		return nil, err
	}
	row, found, err := s.db.load(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("keys: reading keyset %s from table %s: %w", id, s.cfg.table, err)
	}
	if !found {
		return nil, fmt.Errorf("keys: exporting %s: %w", id, s.missingKeyset(id))
	}
	ks, err := s.open(ctx, id, row, nil)
	if err != nil {
		return nil, err
	}
	return exportKeyset(ctx, s.cfg.auditor, id, ks, kek, associatedData)
}

// exportKeyset writes ks as a Tink JSON encrypted keyset under kek with
// associatedData and reports it to auditor: the part of Export every store
// shares.
func exportKeyset(ctx context.Context, auditor Auditor, id KeysetID, ks *Keyset, kek tink.AEAD, associatedData []byte) ([]byte, error) {
	var buf bytes.Buffer
	call := &kekCall{kek: kek}
	if err := ks.handle.WriteWithContext(ctx, keyset.NewJSONWriter(&buf), call, associatedData); err != nil {
		err = kekError(ctx, false, id, call.err, err)
		audit(ctx, auditor, time.Now(), Event{Type: EventKMSFailure, Keyset: id, Err: err})
		return nil, err
	}
	audit(ctx, auditor, time.Now(), Event{Type: EventKeysetExported, Keyset: id, KeyID: ks.PrimaryKeyID()})
	return buf.Bytes(), nil
}
