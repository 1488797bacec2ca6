package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/stores/postgres"
	"github.com/tillid/tillid/tokenize"
)

// vaultOf opens the token vault in d's database, as the application does.
func vaultOf(t *testing.T, d rewrapDB) tokenize.Store {
	t.Helper()
	if strings.HasPrefix(d.dsn, "sqlite:") {
		s, err := tokenize.OpenSQLite(ctx, d.db, tokenize.WithCreateTable())
		require.NoError(t, err)
		return s
	}
	pool, err := pgxpool.New(ctx, d.dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := postgres.OpenTokenStore(ctx, pool, postgres.WithCreateTable())
	require.NoError(t, err)
	return s
}

// The vault runbook: tokenize, rotate the domain's keysets with the CLI,
// vault rewrap (interrupted, then resumed), disable the old AEAD key, and
// every token still detokenizes.
func TestVaultRewrap(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) rewrapDB
	}{{"sqlite", sqliteRewrapDB}, {"postgres", postgresRewrapDB}} {
		t.Run(tc.name, func(t *testing.T) {
			raw := masterKey(t)
			d := tc.open(t)
			app := d.openKey(t, raw)
			vault := vaultOf(t, d)
			tk, err := tokenize.New(app, vault, "card", tokenize.ModeConsistent, tokenize.WithFormat(tokenize.Card(6, 4)))
			require.NoError(t, err)
			const n = 2500
			items := make([]tokenize.Item, n)
			subjects := 0
			for i := range items {
				items[i] = tokenize.Item{Value: fmt.Sprintf("4111%012d", i)}
				if i%10 == 0 {
					items[i].Subject = fmt.Sprint("customer-", i)
					subjects++
				}
			}
			toks, err := tk.TokenizeBatch(ctx, items)
			require.NoError(t, err)
			old, err := app.Keyset(ctx, "tokenize-card", keys.KindAEAD)
			require.NoError(t, err)
			store := []string{"-keyset-db", d.dsn}
			for _, kind := range []string{"aead", "prf"} {
				code, out, errOut := cli(t, append([]string{"keys", "rotate", "-kind", kind}, append(store, "tokenize-card")...)...)
				require.Equal(t, exitOK, code, "rotate: %s", errOut)
				assert.Contains(t, out, "not rotated: keyset tokenize-card/", "rotate names the kind it left alone")
			}
			d.clock.Advance(appTTL)

			args := append([]string{"vault", "rewrap", "-cache-ttl", "1ms", "-batch", "300", "-db", d.dsn}, append(store, "card")...)
			c, cancel := context.WithCancel(ctx)
			errOut := &cancelOnProgress{cancel: cancel}
			var out bytes.Buffer
			code := run(c, args, &out, errOut)
			cancel()
			assert.Equal(t, exitFailure, code, "interrupted vault rewrap:\n%s", errOut)
			assert.Contains(t, errOut.String(), "run the same command again to resume", "an interrupted vault rewrap says how to resume")

			code, outS, errS := cli(t, args...)
			require.Equal(t, exitOK, code, "resumed vault rewrap:\n%s\n%s", outS, errS)
			assert.Contains(t, errS, "resuming", "the second run resumes")
			assert.Contains(t, outS, "in the job; this run:", "totals apart from this run")
			assert.Contains(t, outS, "rows done before this run started", "the resumed final line says it resumed")
			assert.Contains(t, outS, fmt.Sprintf("%d rows, %d values rewrapped, 0 skipped in the job", n, n), "every entry was rewrapped once")
			assert.Contains(t, outS, "entries of data subjects whose PRF entries stay", "the kept subject entries are named")
			t.Logf("%s: %s", tc.name, strings.TrimSpace(outS))
			code, outS, errS = cli(t, append(args[:2:2], append([]string{"-restart"}, args[2:]...)...)...)
			require.Equal(t, exitOK, code, "vault rewrap -restart:\n%s\n%s", outS, errS)
			assert.Contains(t, outS, fmt.Sprintf("%d rows, 0 values rewrapped", n), "a second pass finds everything current")
			assert.Contains(t, outS, fmt.Sprintf("this run met %d entries of data subjects", subjects), "a whole pass counts every kept subject entry")

			code, _, errS = cli(t, append([]string{"keys", "disable", "-kind", "aead"}, append(store, "tokenize-card", fmt.Sprint(old.PrimaryKeyID()))...)...)
			require.Equal(t, exitOK, code, "disable the old AEAD key: %s", errS)
			d.clock.Advance(appTTL)
			vals, err := tk.DetokenizeBatch(ctx, toks)
			require.NoError(t, err, "every token detokenizes with the old AEAD key disabled")
			for i := range toks {
				require.Equal(t, items[i].Value, vals[i], "token %d", i)
			}
		})
	}
}

// A vault rewrap right after a rotation, with instances that cache keysets
// for an hour, says it is not complete and until when to wait.
func TestVaultRewrapNotSettled(t *testing.T) {
	raw := masterKey(t)
	d := sqliteRewrapDB(t)
	app := d.openKey(t, raw)
	tk, err := tokenize.New(app, vaultOf(t, d), "cpr", tokenize.ModeRandom)
	require.NoError(t, err)
	_, err = tk.Tokenize(ctx, "0101901234")
	require.NoError(t, err)
	store := []string{"-keyset-db", d.dsn}
	code, _, errS := cli(t, append([]string{"keys", "rotate"}, append(store, "tokenize-cpr")...)...)
	require.Equal(t, exitOK, code, errS)
	code, outS, errS := cli(t, append([]string{"vault", "rewrap", "-cache-ttl", "1h", "-wait=false", "-db", d.dsn}, append(store, "cpr")...)...)
	require.Equal(t, exitOK, code, "%s\n%s", outS, errS)
	assert.Contains(t, errS, "NOT COMPLETE", "a job younger than the cache TTL is not declared complete")
	assert.Contains(t, errS, "Run the job again in", "it says how long to wait")

	code, _, errS = cli(t, append([]string{"vault", "rewrap", "-db", d.dsn}, append(store, "nope")...)...)
	assert.Equal(t, exitNotFound, code, "vault rewrap of a domain without keysets: %s", errS)
	assert.Contains(t, errS, "tokenize-nope/aead", "the missing keyset is named")
}

// settle waits out the cache TTL after a fresh rotation and asks for a last
// pass; an interrupted wait says how to finish; an old primary needs no wait.
func TestCacheSettle(t *testing.T) {
	store := keys.NewMemory()
	_, err := store.Keyset(ctx, "default", keys.KindAEAD) // made now
	require.NoError(t, err)
	ids := []keys.KeysetID{{Name: "default", Kind: keys.KindAEAD}}
	sf := &storeFlags{keysetDB: "sqlite:x"}
	var waited time.Duration
	fired := make(chan time.Time, 1)
	f := cacheFlags{ttl: time.Hour, wait: true, after: func(d time.Duration) <-chan time.Time {
		waited = d
		fired <- time.Now()
		return fired
	}}
	var w bytes.Buffer
	again, err := f.settle(ctx, sf, store, ids, &w, time.Now)
	require.NoError(t, err)
	assert.True(t, again, "settle after a fresh rotation asks for a last pass")
	assert.InDelta(t, time.Hour.Seconds(), waited.Seconds(), 5, "settle waits out the cache TTL")
	assert.Contains(t, w.String(), "waiting", "settle says it waits")

	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	again, err = f.settle(ctx, sf, store, ids, &w, later)
	require.NoError(t, err)
	assert.False(t, again, "no wait once the TTL has passed")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	f.after = func(time.Duration) <-chan time.Time { return nil }
	_, err = f.settle(cancelled, sf, store, ids, &w, time.Now)
	if assert.Error(t, err, "an interrupted wait") {
		assert.Contains(t, err.Error(), "run the same command again after", "an interrupted wait says how to finish")
	}

	tests := []struct {
		name string
		f    cacheFlags
		sf   storeFlags
		want time.Duration
	}{
		{"SQL store default", cacheFlags{}, storeFlags{keysetDB: "postgres://x"}, keys.DefaultCacheTTL},
		{"file store poll", cacheFlags{}, storeFlags{keysetFile: "k.json"}, fileCheckInterval},
		{"given TTL", cacheFlags{ttl: time.Minute}, storeFlags{keysetFile: "k.json"}, time.Minute},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.f.window(&tt.sf), tt.name)
	}
}

// Errors name the database they failed on, never its password.
func TestTarget(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"postgres://app:s3cret@db.example:5432/app?sslmode=disable", "postgres://app:xxxxx@db.example:5432/app?sslmode=disable"},
		{"postgres://app@db.example/app?password=s3cret", "postgres://app@db.example/app?password=xxxxx"},
		{"sqlite:/var/lib/app.db", "sqlite:/var/lib/app.db"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, target(tt.dsn), "target(%q)", tt.dsn)
	}
	_, err := openDB(ctx, "postgres://app:s3cret@127.0.0.1:1/app?connect_timeout=2")
	if assert.Error(t, err, "connecting to a closed port") {
		assert.Contains(t, err.Error(), "127.0.0.1:1", "the error names the server")
		assert.NotContains(t, err.Error(), "s3cret", "the error never carries the password")
	}
}

// Exit codes tell a KMS outage (page the network team) from refused
// credentials or permissions (fix the IAM policy).
func TestExitCodeKMS(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"unreachable", fmt.Errorf("keys: unwrapping keyset a/aead: %w", keys.ErrKMSUnavailable), exitKMS},
		{"deadline", fmt.Errorf("keys: %w: %w", keys.ErrKMSUnavailable, context.DeadlineExceeded), exitKMS},
		{"access denied", fmt.Errorf("keys: wrapping keyset a/aead: %w", keys.ErrKMSAccessDenied), exitKMSDenied},
	}
	for _, tt := range tests {
		var w bytes.Buffer
		assert.Equal(t, tt.want, exitCode(&w, tt.err), tt.name)
	}
}
