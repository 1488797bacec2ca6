// Package pgtest gives tests a fresh PostgreSQL database on a throwaway server.
//
// It is a module of its own (github.com/tillid/tillid/internal/pgtest), so
// that the core module does not require pgx; its internal path keeps it
// for tillid's own modules (stores, cmd/tillid).
//
// A test package that talks to PostgreSQL calls [Run] from its TestMain and
// [DSN] from each test:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
//	func TestStore(t *testing.T) {
//		db, err := sql.Open("pgx", pgtest.DSN(t))
//		...
//	}
//
// If the environment variable TILLID_PG_DSN is set, DSN uses that server; its
// user must be allowed to CREATE DATABASE. Otherwise the first call to DSN in
// a test binary starts one throwaway cluster from the installed PostgreSQL
// binaries, found in PATH, at pg_config --bindir, or in
// /usr/lib/postgresql/*/bin (the highest version). The cluster lives in a
// temporary directory, listens on 127.0.0.1 only, on a free port, and runs
// with fsync=off: it is fast and is lost on a crash, which is what tests want.
// Run stops it and removes the directory when the tests are done. A cluster
// left behind by a test binary that died (a panic, a -timeout) is removed by
// the next one.
//
// PostgreSQL refuses to run as root, so when the tests run as root the cluster
// runs as the system user tillidpg, created with useradd if it is missing, by
// way of runuser (util-linux).
//
// When there are no PostgreSQL binaries and no TILLID_PG_DSN, DSN skips the
// test with a message saying how to get them, except when the environment
// variable CI is true: a PostgreSQL test never skips under CI, it fails.
//
// # Security considerations
//
// The throwaway cluster trusts every connection (initdb -A trust): any local
// user can connect to it as the superuser while the tests run. Put only test
// data in it.
package pgtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that points DSN at an existing
// server instead of a throwaway cluster.
const EnvDSN = "TILLID_PG_DSN"

const (
	// systemUser runs the cluster when the tests run as root.
	systemUser = "tillidpg"
	// dirPrefix starts the name of every cluster's temporary directory.
	dirPrefix = "tillid-pgtest-"
	// ownerFile, in that directory, holds the PID of the test binary that
	// owns the cluster.
	ownerFile = "owner.pid"
)

var (
	running atomic.Bool // Run is active

	startOnce sync.Once
	shared    *cluster // the throwaway cluster, once started
	startErr  error
)

// errNoPostgres says that no PostgreSQL binaries were found.
var errNoPostgres = errors.New("pgtest: PostgreSQL not found (no initdb and pg_ctl in PATH, at pg_config --bindir or in /usr/lib/postgresql/*/bin)")

// Run runs the tests and then stops the throwaway cluster, if DSN started
// one, and removes its directory. It returns the exit code of m.Run. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
func Run(m *testing.M) int {
	running.Store(true)
	code := m.Run()
	running.Store(false)
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}

// DSN returns a connection string for a new, empty database that no other
// test uses. The database is dropped when the test and its subtests finish.
//
// DSN uses the server at $TILLID_PG_DSN if set, or else the test binary's
// throwaway cluster, started on first use. Without either, it skips the test,
// or fails it when $CI is true. It fails the test if TestMain does not call
// [Run]. It is safe for concurrent use by parallel tests.
func DSN(t testing.TB) string {
	t.Helper()
	if !running.Load() {
		t.Fatal("pgtest: DSN needs TestMain to call pgtest.Run: func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }")
	}

	admin := os.Getenv(EnvDSN)
	if admin == "" {
		startOnce.Do(func() {
			begin := time.Now()
			shared, startErr = start()
			if startErr == nil {
				t.Logf("pgtest: started PostgreSQL on 127.0.0.1:%d in %v", shared.port, time.Since(begin).Round(time.Millisecond))
			}
		})
		if errors.Is(startErr, errNoPostgres) {
			if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
				t.Fatalf("%v; a PostgreSQL test never skips under CI=true: install PostgreSQL (apt-get install postgresql) or set %s", startErr, EnvDSN)
			}
			t.Skipf("%v; to run this test, install PostgreSQL (apt-get install postgresql) or set %s to a server where the user may CREATE DATABASE", startErr, EnvDSN)
		}
		if startErr != nil {
			t.Fatal(startErr)
		}
		admin = shared.dsn("postgres")
	}

	name, err := databaseName(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := execSQL(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := execSQL(ctx, admin, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// execSQL runs one statement on a new connection to dsn.
func execSQL(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("pgtest: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %v", sql, err)
	}
	return nil
}

// databaseName returns a unique database name that shows the test's name.
func databaseName(testName string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() == 40 {
			break
		}
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("pgtest: %v", err)
	}
	return "tillid_" + b.String() + "_" + hex.EncodeToString(suffix), nil
}

// withDatabase returns dsn, a URL or a keyword/value connection string, with
// its database set to name, a plain identifier.
func withDatabase(dsn, name string) (string, error) {
	out := dsn + " dbname=" + name // in keyword/value form the last setting wins
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: %s is not a valid URL", EnvDSN) // the error may hold the password
		}
		u.Path, u.RawPath = "/"+name, ""
		out = u.String()
	}
	cfg, err := pgx.ParseConfig(out)
	if err != nil {
		return "", fmt.Errorf("pgtest: %v", err)
	}
	if cfg.Database != name {
		return "", fmt.Errorf("pgtest: cannot set the database in %s", EnvDSN)
	}
	return out, nil
}

// A cluster is a throwaway PostgreSQL cluster.
type cluster struct {
	bin  string // directory holding initdb, pg_ctl and postgres
	dir  string // temporary directory: owner.pid, data/, postgres.log, socket
	user string // user that runs the cluster, or "" for the current user
	port int
}

// dsn returns the connection string for database name on c.
func (c *cluster) dsn(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// start creates and starts a throwaway cluster. It returns errNoPostgres if
// there are no PostgreSQL binaries.
func start() (*cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin}
	if os.Geteuid() == 0 {
		c.user = systemUser
	}
	removeStale(bin, c.user)

	c.dir, err = os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %v", err)
	}
	if err := c.setUp(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

// setUp makes the cluster in c.dir and starts the server.
func (c *cluster) setUp() error {
	if err := os.WriteFile(filepath.Join(c.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("pgtest: %v", err)
	}
	if c.user != "" {
		uid, gid, err := systemUserIDs()
		if err != nil {
			return err
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return fmt.Errorf("pgtest: %v", err)
		}
	}
	data := filepath.Join(c.dir, "data")
	if err := c.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return err
	}

	// Another process may take the free port before the server does: retry.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k '%s' -c fsync=off -c full_page_writes=off -c synchronous_commit=off", port, c.dir)
		err = c.run("pg_ctl", "start", "-w", "-D", data, "-l", filepath.Join(c.dir, "postgres.log"), "-o", opts)
		if err == nil {
			c.port = port
			return nil
		}
		if attempt == 3 {
			log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			return fmt.Errorf("%v\npostgres.log:\n%s", err, log)
		}
	}
}

// stop stops the server at once and removes the cluster's directory.
func (c *cluster) stop() error {
	err := c.run("pg_ctl", "stop", "-m", "immediate", "-D", filepath.Join(c.dir, "data"))
	if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgtest: %v", rmErr)
	}
	return err
}

// run runs the PostgreSQL program name as c.user and returns an error
// holding its output if it fails.
func (c *cluster) run(name string, args ...string) error {
	path := filepath.Join(c.bin, name)
	cmd := exec.Command(path, args...)
	if c.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.user, "--", path}, args...)...)
	}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// findBinaries returns the directory holding initdb and pg_ctl: from PATH,
// from pg_config --bindir, or the highest version in /usr/lib/postgresql.
func findBinaries() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	var dirs []string
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(initdb); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versions, func(a, b string) int { // highest version first
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
		return cmp.Compare(vb, va)
	})
	dirs = append(dirs, versions...)
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", errNoPostgres
}

// systemUserIDs returns the IDs of systemUser, creating the user if needed.
func systemUserIDs() (uid, gid int, err error) {
	u, err := user.Lookup(systemUser)
	for attempt := 0; err != nil && attempt < 5; attempt++ {
		// useradd fails if a parallel test binary holds the lock on
		// /etc/passwd or has just created the user: look again.
		if out, addErr := exec.Command("useradd", "--system", "--no-create-home", systemUser).CombinedOutput(); addErr != nil {
			err = fmt.Errorf("pgtest: useradd %s: %v\n%s", systemUser, addErr, out)
			time.Sleep(100 * time.Millisecond)
		}
		if u2, lookErr := user.Lookup(systemUser); lookErr == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: PostgreSQL will not run as root and no user %s: %v", systemUser, err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: user %s: %v", systemUser, err)
	}
	gid, err = strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: user %s: %v", systemUser, err)
	}
	return uid, gid, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeStale stops and removes the clusters of test binaries that died
// without running Run to the end. Errors are ignored: a cluster this process
// cannot remove is not its own.
func removeStale(bin, clusterUser string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			c := &cluster{bin: bin, dir: dir, user: clusterUser}
			c.run("pg_ctl", "stop", "-m", "immediate", "-D", filepath.Join(dir, "data"))
		}
		os.RemoveAll(dir)
	}
}

// processAlive reports whether process pid may still run. It says yes
// unless it knows otherwise.
func processAlive(pid int) bool {
	// On Linux, a dead process whose parent has not reaped it yet is a
	// zombie ("Z" after the command name in /proc/PID/stat).
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(stat[i:], []byte(") Z")) {
			return false
		}
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}
