package keys

import "context"

// Manager is a keyset store as an operator manages it: the [Provider] that
// applications use, plus rotation, the key states and listing. Every
// keyset store of this package implements it: [Store] (memory and
// [OpenFile]) and [SQLStore] ([OpenSQLite], [OpenPostgres]). The tillid
// CLI takes any Manager.
//
// Rotate adds a new primary key and returns its key ID; Disable, Enable and
// Destroy change the state of one key, as [Store.Disable], [Store.Enable]
// and [Store.Destroy] describe, with the sentinel errors named there; List
// returns every keyset, sorted by name and kind. Implementations must be
// safe for concurrent use and pass ctx on to every KEK and database call.
type Manager interface {
	Provider
	Rotate(ctx context.Context, name string, kind Kind) (uint32, error)
	Disable(ctx context.Context, name string, kind Kind, keyID uint32) error
	Enable(ctx context.Context, name string, kind Kind, keyID uint32) error
	Destroy(ctx context.Context, name string, kind Kind, keyID uint32) error
	List(ctx context.Context) ([]*Keyset, error)
}

var (
	_ Manager = (*Store)(nil)
	_ Manager = (*SQLStore)(nil)
)
