package usersrv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/users/password"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// testEnv is a users service running on a loopback port over its own
// throwaway database, with a real SMTP server catching its mail.
type testEnv struct {
	URL   string
	Users *usersrv.Users
	Mail  *mailtest.Server
	DB    *pgxpool.Pool
	Logs  *lockedBuffer // every log line the service wrote
}

// fastArgon keeps the many hashes of the test suite cheap; the production
// parameters have their own tests and the benchmark.
var fastArgon = password.Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// testConfig is a valid configuration for a test service.
func testConfig(t *testing.T, dbURL string, smtp *mailtest.Server) usersrv.Config {
	t.Helper()
	return usersrv.Config{
		Addr: "127.0.0.1:0", DatabaseURL: dbURL, Migrate: true, DataDir: t.TempDir(),
		Issuer: "test-issuer", Audience: "test-audience", AccessTTL: 15 * time.Minute, SessionTTL: 30 * 24 * time.Hour,
		Argon: fastArgon, HashWorkers: 2, HashQueue: 256,
		AccountMaxFailures: 5, AddressMaxFailures: 50, FailureWindow: 15 * time.Minute,
		ResetTTL: 30 * time.Minute, ResetURL: "http://shop.test/reset-password?token=",
		Mail: mail.Config{Host: smtp.Host, Port: smtp.Port, From: "shop@test", TLS: "none"},
	}
}

// newEnv starts a service; change adjusts its configuration first.
func newEnv(t *testing.T, change ...func(*usersrv.Config)) *testEnv {
	t.Helper()
	dbURL, db := pgtest.New(t, userdb.Migrations())
	e := &testEnv{Mail: mailtest.NewServer(t), DB: db, Logs: &lockedBuffer{}}
	cfg := testConfig(t, dbURL, e.Mail)
	for _, f := range change {
		f(&cfg)
	}
	log := observability.NewLogger(e.Logs, slog.LevelDebug)
	u, err := usersrv.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start users service: %v", err)
	}
	e.Users = u
	srv := server.New(log, observability.NewRegistry(), 5*time.Second)
	addr, err := srv.Add(u.Module(cfg.Addr))
	if err != nil {
		t.Fatal(err)
	}
	e.URL = "http://" + addr.String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	return e
}

// response is what a request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode unmarshals the body into v, failing the test if it cannot.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// problem decodes an RFC 9457 body and checks its content type.
func (r response) problem(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.Body)
	}
	var p map[string]any
	r.decode(t, &p)
	return p
}

// do sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON); a non-empty token is sent as a bearer token.
func (e *testEnv) do(t *testing.T, method, path, token string, body any, header ...string) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// want fails the test unless the response has the given status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}

type userBody struct {
	ID              string            `json:"id"`
	Email           string            `json:"email"`
	DisplayName     string            `json:"display_name"`
	Roles           []string          `json:"roles"`
	Disabled        bool              `json:"disabled"`
	Phone           *string           `json:"phone"`
	ShippingAddress map[string]string `json:"shipping_address"`
	Preferences     map[string]any    `json:"preferences"`
	ShopName        *string           `json:"shop_name"`
}

type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

const goodPassword = "plum-kettle-orbit-42"

// mustRegister creates an account.
func (e *testEnv) mustRegister(t *testing.T, email string) userBody {
	t.Helper()
	var u userBody
	e.do(t, "POST", "/v1/auth/register", "", map[string]string{
		"email": email, "password": goodPassword, "display_name": "Test " + email,
	}).want(t, http.StatusCreated).decode(t, &u)
	return u
}

// mustLogin logs in with goodPassword.
func (e *testEnv) mustLogin(t *testing.T, email string) tokenBody {
	t.Helper()
	return e.login(t, email, goodPassword)
}

func (e *testEnv) login(t *testing.T, email, pw string) tokenBody {
	t.Helper()
	var tok tokenBody
	e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw}).
		want(t, http.StatusOK).decode(t, &tok)
	return tok
}

// mustUser registers and logs in.
func (e *testEnv) mustUser(t *testing.T, email string) (userBody, tokenBody) {
	t.Helper()
	return e.mustRegister(t, email), e.mustLogin(t, email)
}

// mustAdmin registers an account, makes it admin the way an operator does
// (grant-role), and logs in.
func (e *testEnv) mustAdmin(t *testing.T, email string) (userBody, tokenBody) {
	t.Helper()
	u := e.mustRegister(t, email)
	if _, err := e.Users.Service.GrantRoleByEmail(context.Background(), email, "admin"); err != nil {
		t.Fatalf("grant admin: %v", err)
	}
	return u, e.mustLogin(t, email)
}

// lockedBuffer lets the service's goroutines and the test share a log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
