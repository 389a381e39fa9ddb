package usersrv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
	"github.com/marketplace-go/marketplace/internal/users/password"
	"github.com/marketplace-go/marketplace/internal/users/userdb"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// TestMain lets this test binary be the hashing worker of the tests that
// hash in child processes (usersrv.HasherProcess): the pool starts
// os.Executable, which is this binary.
func TestMain(m *testing.M) {
	if password.IsWorker() {
		os.Exit(password.ServeWorker())
	}
	os.Exit(m.Run())
}

// testEnv is a users service running on a loopback port over its own
// throwaway database, with a real SMTP server catching its mail.
type testEnv struct {
	URL   string
	Users *usersrv.Users
	Mail  *mailtest.Server
	DB    *pgxpool.Pool
	Logs  *logtest.Buffer // every log line the service wrote
	Clock *clock          // the service's clock: real time plus what the test advanced
}

// clock is real time moved forward by the test, so that windows and
// expiries end when the test says instead of after a sleep.
type clock struct{ ahead atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) { c.ahead.Add(int64(d)) }

// fastArgon keeps the many hashes of the test suite cheap; the production
// parameters have their own tests and the benchmark.
var fastArgon = password.Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// testConfig is a valid configuration for a test service.
func testConfig(t *testing.T, dbURL string, smtp *mailtest.Server) usersrv.Config {
	t.Helper()
	return usersrv.Config{
		DatabaseURL: dbURL, Migrate: true, DataDir: t.TempDir(),
		Issuer: "test-issuer", Audience: "test-audience", AccessTTL: 15 * time.Minute, SessionTTL: 30 * 24 * time.Hour,
		Argon: fastArgon, HashWorkers: 2, HashQueue: 256,
		AccountMaxFailures: 5, AddressMaxFailures: 50, FailureWindow: 15 * time.Minute,
		ResetTTL: 30 * time.Minute, ResetMaxMails: 3, ResetURL: "http://shop.test/reset-password?token=",
		Mail: mail.Config{Host: smtp.Host, Port: smtp.Port, From: "shop@test", TLS: "none"},
	}
}

// newEnv starts a service; change adjusts its configuration first.
func newEnv(t *testing.T, change ...func(*usersrv.Config)) *testEnv {
	t.Helper()
	dbURL, db := pgtest.New(t, userdb.Migrations())
	e := &testEnv{Mail: mailtest.NewServer(t), DB: db, Logs: &logtest.Buffer{}, Clock: &clock{}}
	cfg := testConfig(t, dbURL, e.Mail)
	for _, f := range change {
		f(&cfg)
	}
	log := observability.NewLogger(e.Logs, slog.LevelDebug)
	u, err := usersrv.New(context.Background(), cfg, server.Deps{Log: log})
	if err != nil {
		t.Fatalf("start users service: %v", err)
	}
	u.Service.SetClock(e.Clock.Now) // before the server starts taking requests
	e.Users = u
	e.URL, _ = servertest.Start(t, log, observability.NewRegistry(), u.Module("127.0.0.1:0"))
	return e
}

// response is what a request got back, with this package's checks.
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
	r, err := e.request(method, path, token, body, header...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// request is do for goroutines other than the test's own, which must not
// call t.Fatal: it returns the error instead.
func (e *testEnv) request(method, path, token string, body any, header ...string) (response, error) {
	r, err := httpxtest.Client{BaseURL: e.URL}.Request(httpxtest.Caller{Token: token}, method, path, body, header...)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return response(r), nil
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

// wantProblem fails the test unless the response is a problem+json with
// the given status and code; it returns the problem's members.
func (r response) wantProblem(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	r.want(t, status)
	p := r.problem(t)
	if p["code"] != code {
		t.Fatalf("problem code %v, want %q; body %s", p["code"], code, r.Body)
	}
	return p
}

// wantFieldError fails the test unless the response is a 400
// validation_failed problem that names field in its errors.
func (r response) wantFieldError(t *testing.T, field string) {
	t.Helper()
	p := r.wantProblem(t, http.StatusBadRequest, "validation_failed")
	fields, _ := p["errors"].(map[string]any)
	if _, ok := fields[field]; !ok {
		t.Fatalf("errors %v do not name %q", fields, field)
	}
}

// refresh spends a refresh token.
func (e *testEnv) refresh(t *testing.T, refreshToken string) response {
	t.Helper()
	return e.do(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refreshToken})
}

// mustRefresh spends a refresh token that must still be good.
func (e *testEnv) mustRefresh(t *testing.T, refreshToken string) tokenBody {
	t.Helper()
	var tok tokenBody
	e.refresh(t, refreshToken).want(t, http.StatusOK).decode(t, &tok)
	return tok
}

// me returns the account of the access token's bearer.
func (e *testEnv) me(t *testing.T, accessToken string) userBody {
	t.Helper()
	var u userBody
	e.do(t, "GET", "/v1/users/me", accessToken, nil).want(t, http.StatusOK).decode(t, &u)
	return u
}

// queryInt runs a query that returns one integer, such as a count.
func (e *testEnv) queryInt(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// exec changes the database behind the service's back.
func (e *testEnv) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.DB.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// concurrently sends n requests at once, the i-th made by req(i), and
// returns the answers in order. Transport errors fail the test.
func (e *testEnv) concurrently(t *testing.T, n int, req func(i int) (method, path, token string, body any)) []response {
	t.Helper()
	return httpxtest.Race(t, n, func(i int) (response, error) {
		method, path, token, body := req(i)
		return e.request(method, path, token, body)
	})
}

// statuses counts responses by status.
func statuses(rs []response) map[int]int {
	counts := map[int]int{}
	for _, r := range rs {
		counts[r.Status]++
	}
	return counts
}

// scenario is a test that can share a service with others: it makes its own
// accounts and looks only at their rows and mail.
type scenario struct {
	name string
	test func(t *testing.T, e *testEnv)
}

// runScenarios runs scenarios one after the other against e. Sharing a
// service saves a database per scenario, which is most of their cost.
func runScenarios(t *testing.T, e *testEnv, scenarios ...scenario) {
	t.Helper()
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.test(t, e) })
	}
}
