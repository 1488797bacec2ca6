// Command httpapi is a small JSON API over SQLite that keeps one Customer
// struct for every reader: it stores it protected, answers masked or plain
// per role from the same tags, and logs it redacted.
//
//	POST /customers              create (the body is a Customer in clear)
//	GET  /customers/{id}         read, as the caller's role sees it
//	GET  /customers?email=...    find by email through a blind index
//
// The role comes from the X-Role header for the example's sake (owner,
// billing or support); a real service takes it from its authentication.
// Run it with `go run ./examples/httpapi`: it starts on 127.0.0.1, makes a
// few requests, prints the answers and exits.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite"

	"github.com/tillid/tillid/keys"
	"github.com/tillid/tillid/pii"
	"github.com/tillid/tillid/tokenize"
)

// Customer is stored, shown and logged from these tags alone:
// storage gets the actions, each role its view= rule (or the field's mask
// when the rule does not name the role), logs "[redacted]".
//
// The customer account is kept to perform the contract (GDPR Art. 6(1)(b));
// the support notes, never stored, are support's legitimate interest.
type Customer struct {
	_        struct{} `pii:"purpose=account,basis=contract,subjects=customer"`
	ID       string   `json:"id" pii:"-"`
	Name     pii.Text `json:"name" pii:"encrypt,class=identity,aad=ID,mask=name,view=billing:plain"`
	Email    pii.Text `json:"email" pii:"encrypt,class=contact,aad=ID,mask=email,view=billing:plain"`
	EmailIdx string   `json:"-" pii:"index=Email,normalize=email"`
	Card     pii.Text `json:"card" pii:"tokenize=card,class=financial,mask=card,view=support:hide,purpose=billing"`
	Notes    pii.Text `json:"notes,omitempty" pii:"redact,purpose=support,basis=legitimate_interests"`
}

func main() {
	dir, err := os.MkdirTemp("", "tillid-httpapi")
	if err == nil {
		defer os.RemoveAll(dir)
		err = run(context.Background(), dir, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpapi:", err)
		os.Exit(1)
	}
}

// run serves the API on a free port of 127.0.0.1 with its database in
// dir, makes the example's requests, writes their answers to out and the
// service's log to logOut.
func run(ctx context.Context, dir string, out, logOut io.Writer) error {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "api.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	api, err := newAPI(ctx, db, slog.New(pii.NewRedactingHandler(slog.NewJSONHandler(logOut, nil))))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api.routes()}
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	base := "http://" + ln.Addr().String()

	body := `{"id":"c1","name":"Ada King Lovelace","email":"Ada@Example.com","card":"4929 1300 0000 3749","notes":"called about her invoice"}`
	steps := []struct{ method, path, role, body string }{
		{http.MethodPost, "/customers", "owner", body},
		{http.MethodGet, "/customers/c1", "owner", ""},
		{http.MethodGet, "/customers/c1", "billing", ""},
		{http.MethodGet, "/customers/c1", "support", ""},
		{http.MethodGet, "/customers?email=ada@example.com", "support", ""},
		{http.MethodGet, "/customers/c1", "", ""},
	}
	for _, s := range steps {
		req, err := http.NewRequestWithContext(ctx, s.method, base+s.path, strings.NewReader(s.body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Role", s.role)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s as %q: %d %s\n", s.method, s.path, s.role, resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	return nil
}

type api struct {
	db  *sql.DB
	p   *pii.Protector
	log *slog.Logger
	// views are the roles' views; the owner gets pii.Plain.
	views map[string]*pii.View
}

func newAPI(ctx context.Context, db *sql.DB, log *slog.Logger) (*api, error) {
	if err := pii.Validate(Customer{}); err != nil {
		return nil, err
	}
	// Keys in memory for the example; a service keeps them in keys.OpenFile
	// or an SQL store under a KMS key.
	store := keys.NewMemory()
	// WithCreateTable: the example makes its vault; a service opens an
	// existing one without it, so that a wrong database is an error.
	vault, err := tokenize.OpenSQLite(ctx, db, tokenize.WithCreateTable())
	if err != nil {
		return nil, err
	}
	cards, err := tokenize.New(store, vault, "card", tokenize.ModeConsistent)
	if err != nil {
		return nil, err
	}
	p, err := pii.New(store, pii.WithVault(cards))
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS customers (
		id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, email_idx TEXT NOT NULL, card TEXT NOT NULL)`); err != nil {
		return nil, err
	}
	a := &api{db: db, p: p, log: log, views: map[string]*pii.View{}}
	for _, role := range []string{"billing", "support"} {
		if a.views[role], err = pii.NewView(role); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /customers", a.create)
	mux.HandleFunc("GET /customers/{id}", a.read)
	mux.HandleFunc("GET /customers", a.find)
	return mux
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var c Customer
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil || c.ID == "" {
		http.Error(w, "want a customer with an id", http.StatusBadRequest)
		return
	}
	a.log.Info("create", "customer", pii.Redacted(c)) // and the redacting handler catches what is logged without it
	if err := a.p.Protect(r.Context(), &c); err != nil {
		a.fail(w, err)
		return
	}
	// c.Notes is empty now (redact); pii.Text refuses any plaintext left.
	if _, err := a.db.ExecContext(r.Context(), `INSERT INTO customers (id, name, email, email_idx, card) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.Email, c.EmailIdx, c.Card); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
	a.answer(w, r, c.ID, nil)
}

func (a *api) read(w http.ResponseWriter, r *http.Request) {
	c, err := a.load(r.Context(), `SELECT id, name, email, email_idx, card FROM customers WHERE id = ?`, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.answer(w, r, c[0].ID, c[0])
}

func (a *api) find(w http.ResponseWriter, r *http.Request) {
	terms, err := a.p.LookupTerms(r.Context(), Customer{}, "EmailIdx", r.URL.Query().Get("email"))
	if err != nil {
		a.fail(w, err)
		return
	}
	args := make([]any, len(terms))
	for i, t := range terms {
		args[i] = t
	}
	cs, err := a.load(r.Context(), `SELECT id, name, email, email_idx, card FROM customers WHERE email_idx IN (?`+
		strings.Repeat(",?", len(terms)-1)+`)`, args...)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.answer(w, r, "", cs)
}

var errNotFound = errors.New("not found")

// load selects customers and reveals them.
func (a *api) load(ctx context.Context, query string, args ...any) ([]Customer, error) {
	rows, err := a.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []Customer
	for rows.Next() {
		var c Customer
		if err := rows.Scan(&c.ID, &c.Name, &c.Email, &c.EmailIdx, &c.Card); err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, errNotFound
	}
	if err := a.p.Reveal(ctx, &cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// answer writes v as the caller's role sees it: the owner in plain, a
// known role through its view, anyone else nothing.
func (a *api) answer(w http.ResponseWriter, r *http.Request, id string, v any) {
	role := r.Header.Get("X-Role")
	if v == nil {
		v = map[string]string{"id": id}
	}
	var body json.Marshaler
	switch view, ok := a.views[role]; {
	case role == "owner":
		body = pii.Plain(v)
	case ok:
		body = view.JSON(v)
	default:
		http.Error(w, "unknown role", http.StatusForbidden)
		return
	}
	a.log.Info("answer", "role", role, "customer", v) // redacted, whatever the role saw
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func (a *api) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, errNotFound) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	a.log.Error("request failed", "err", err) // pii errors carry no values
	http.Error(w, "internal error", http.StatusInternalServerError)
}
