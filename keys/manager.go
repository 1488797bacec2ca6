package keys

import (
	"context"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Manager is a keyset store as an operator manages it: the [Provider] that
// applications use, plus rotation, the key states and listing. Every
// keyset store of this package implements it: [Store] (memory and
// [OpenFile]) and [SQLStore] ([OpenSQLite], [OpenPostgres]). The tillid
// CLI takes any Manager.
//
// Rotate adds a new primary key and returns its key ID; Disable, Enable and
// Destroy change the state of one key, as [Store.Disable], [Store.Enable]
// and [Store.Destroy] describe, with the sentinel errors named there; List
// returns every keyset, sorted by name and kind. Import stores a Tink
// keyset under a new name (a plain-Tink deployment's keys), and Export
// returns one encrypted under another KEK, as [Store.Import] and
// [Store.Export] describe, each with its audit event. Implementations must be
// safe for concurrent use and pass ctx on to every KEK and database call.
type Manager interface {
	Provider
	Rotate(ctx context.Context, name string, kind Kind) (uint32, error)
	Disable(ctx context.Context, name string, kind Kind, keyID uint32) error
	Enable(ctx context.Context, name string, kind Kind, keyID uint32) error
	Destroy(ctx context.Context, name string, kind Kind, keyID uint32) error
	List(ctx context.Context) ([]*Keyset, error)
	Import(ctx context.Context, name string, kind Kind, h *keyset.Handle) (*Keyset, error)
	Export(ctx context.Context, name string, kind Kind, kek tink.AEAD, associatedData []byte) ([]byte, error)
}

var (
	_ Manager = (*Store)(nil)
	_ Manager = (*SQLStore)(nil)
)
