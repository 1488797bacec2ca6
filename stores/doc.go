// Package stores is the root of the module github.com/tillid/tillid/stores,
// which holds what needs a SQL driver, so that the core module
// github.com/tillid/tillid compiles none:
//
//   - package postgres: the PostgreSQL token vault for package tokenize, on
//     pgx with pipelined batches (postgres.OpenTokenStore);
//   - the tests of every SQL store, against modernc.org/sqlite and a
//     throwaway PostgreSQL cluster (internal/pgtest): the keyset stores
//     keys.OpenSQLite and keys.OpenPostgres and the token vaults
//     tokenize.OpenSQLite and postgres.OpenTokenStore, each through the
//     conformance suites of package piitest.
//
// keys.OpenSQLite, keys.OpenPostgres and tokenize.OpenSQLite themselves
// live in the core module and take a *sql.DB: the program imports the
// driver it wants. This package has no API of its own.
package stores
