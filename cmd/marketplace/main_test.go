package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
)

// endToEnd skips a test that starts the platform when -short asks for the
// inner loop (make test-short); make test runs them all.
func endToEnd(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts the platform; left out by -short")
	}
}

// testEnv returns an environment whose users database is a fresh name on
// the test server (serve must create it) and is dropped after the test.
func testEnv(t testing.TB, extra map[string]string) func(string) (string, bool) {
	t.Helper()
	return lookup(testVars(t, extra))
}

// lookup reads env as serve reads its environment.
func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// testVars are testEnv's variables, for tests that start processes.
func testVars(t testing.TB, extra map[string]string) map[string]string {
	t.Helper()
	name := "test_cmd_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	orders, catalog := *u, *u
	orders.Path = "/" + name + "_orders"
	catalog.Path = "/" + name + "_catalog"
	t.Cleanup(func() { dropDatabase(t, name); dropDatabase(t, name+"_orders"); dropDatabase(t, name+"_catalog") })
	env := map[string]string{
		"USERS_DATABASE_URL":      u.String(),
		"DATA_DIR":                t.TempDir(),
		"USERS_ADDR":              "127.0.0.1:0",
		"USERS_ARGON2_MEMORY_KIB": "19456",
		// Hashes here run under the race detector, many times slower
		// than a release build's, on platforms that hash side by side: a
		// rest after each (ADR 58), longer on a busy machine (ADR 68),
		// would only lengthen the suite, and a bound on a login's wait
		// reckoned at that pace (ADR 70) would refuse the logins tests
		// send side by side. Each has its own tests, and make
		// deploy-check and make chaos run the release binary with the
		// defaults.
		"USERS_HASH_BUSY_PERCENT":  "100",
		"USERS_HASH_YIELD_PERCENT": "0",
		"USERS_HASH_MAX_WAIT":      "0",
		"LOG_LEVEL":                "warn",
		"PRODUCTS_ADDR":            "127.0.0.1:0",
		"PRODUCTS_CACHE_PREFIX":    name + ":",
		"ORDERS_ADDR":              "127.0.0.1:0",
		"SEARCH_ADDR":              "127.0.0.1:0",
		"GATEWAY_ADDR":             "127.0.0.1:0",
		"WEB_ADDR":                 "127.0.0.1:0",
		"ORDERS_DATABASE_URL":      orders.String(),
		"FERRETDB_POSTGRES_URL":    catalog.String(),
		"RABBITMQ_URL":             eventstest.NewVhost(t),
		// Tests send many calls from one address; those that test the
		// limits set them.
		"GATEWAY_RATE_LIMITS": "off",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func dropDatabase(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

// startServe runs `marketplace serve` in the background and returns the
// bound addresses, and a stop function that returns what run returned.
func startServe(t testing.TB, getenv func(string) (string, bool), args ...string) (map[string]string, func() error) {
	t.Helper()
	return startBinary(t, binary{modules: table(), getenv: getenv, out: io.Discard}, args...)
}

// startBinary is startServe over any module table and output.
func startBinary(t testing.TB, b binary, args ...string) (map[string]string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan map[string]string, 1)
	done := make(chan error, 1)
	b.ready = func(a map[string]string) { addrs <- a }
	go func() {
		done <- b.run(ctx, append([]string{"serve"}, args...))
	}()
	select {
	case a := <-addrs:
		stop := sync.OnceValue(func() error { cancel(); return <-done })
		t.Cleanup(func() { _ = stop() })
		return a, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve exited early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start within 30s")
	}
	return nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// shippingAddress is a valid address to ship an order to, which every
// order needs (ADR 0041).
func shippingAddress() map[string]any {
	return map[string]any{"name": "Ann Buyer", "line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
}

// orderOf is a valid body of POST /v1/orders: the lines given, or the
// cart when there are none, shipped to shippingAddress().
func orderOf(lines ...map[string]any) map[string]any {
	b := map[string]any{"shipping_address": shippingAddress()}
	if len(lines) > 0 {
		b["items"] = lines
	}
	return b
}

// orderLine is a line of an order: quantity units of a product.
func orderLine(productID string, quantity int) map[string]any {
	return map[string]any{"product_id": productID, "quantity": quantity}
}

func TestServeCreatesTheDatabaseMigratesAndServesUntilStopped(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	addrs, stop := startServe(t, testEnv(t, nil))
	base := "http://" + addrs["users"]
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := get(t, base+path); status != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, status, body)
		}
	}
	body := `{"email":"e2e@example.com","password":"plum-kettle-orbit-42","display_name":"E2E"}`
	res, err := http.Post(base+"/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register = %d", res.StatusCode)
	}
	_, metrics := get(t, base+"/metrics")
	want := `http_requests_total{method="POST",route="POST /v1/auth/register",service="users",status="201"} 1`
	if !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if err := stop(); err != nil {
		t.Errorf("serve returned %v after a clean stop", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the listener still answers after shutdown")
	}
}

func TestBadConfigurationStopsWithOneLineNamingTheVariable(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"a duration that does not parse", "SHUTDOWN_TIMEOUT", "soon"},
		{"a count out of range", "USERS_HASH_WORKERS", "0"},
		{"an unknown log level", "LOG_LEVEL", "loud"},
		{"a database URL of another scheme", "USERS_DATABASE_URL", "mysql://localhost/users"},
		{"a malformed proxy list", "TRUSTED_PROXIES", "10.0.0.0/33"},
		{"argon2 memory below the OWASP floor", "USERS_ARGON2_MEMORY_KIB", "1024"},
		{"a PII key of the wrong size", "USERS_PII_KEYS", "k1:c2hvcnQ="},
		{"an unknown SMTP TLS mode", "SMTP_TLS", "maybe"},
		{"an SMTP sender that is not an address", "SMTP_FROM", "no-reply at localhost"},
		{"a GC target that is neither a percentage nor off", "GOGC", "lots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{tt.variable: tt.value}
			err := run(context.Background(), []string{"serve"}, lookup(env), io.Discard, nil)
			if err == nil {
				t.Fatal("serve started with a bad value")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.variable) || strings.Contains(msg, "\n") {
				t.Errorf("error %q should be one line naming %s", msg, tt.variable)
			}
			if tt.variable == "USERS_PII_KEYS" && strings.Contains(msg, "c2hvcnQ") {
				t.Errorf("error %q echoes key material", msg)
			}
		})
	}
}

func TestServeReadsGOGCAsTheRuntimeDoesWithItsOwnDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"unset, serve's own target", nil, serveGCPercent},
		{"a percentage", map[string]string{"GOGC": "100"}, 100},
		{"off", map[string]string{"GOGC": "off"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.FromLookup(lookup(tt.env))
			if got := gcPercent(e); got != tt.want || e.Err() != nil {
				t.Errorf("gcPercent = %d (%v), want %d", got, e.Err(), tt.want)
			}
		})
	}
}

func TestServeRejectsUnknownTargets(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--target=users,billing"}, testEnv(t, nil), io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "billing") {
		t.Errorf("err = %v, want one naming the unknown target", err)
	}
}

func TestMigrateThenGrantRoleMakesAnAdmin(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, nil)
	if err := run(context.Background(), []string{"migrate"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	addrs, stop := startServe(t, getenv, "--no-migrate")
	base := "http://" + addrs["users"]
	body := `{"email":"boss@example.com","password":"plum-kettle-orbit-42","display_name":"Boss"}`
	res, err := http.Post(base+"/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"grant-role", "--email=BOSS@example.com", "--role=admin"}, getenv, &out, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	if !strings.Contains(out.String(), "admin") {
		t.Errorf("grant-role printed %q", out.String())
	}
	res, err = http.Post(base+"/v1/auth/login", "application/json", strings.NewReader(`{"email":"boss@example.com","password":"plum-kettle-orbit-42"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	req, _ := http.NewRequest("GET", base+"/v1/admin/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("admin listing = %d, want 200", res.StatusCode)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

func TestSeedLoadsTheDemoCatalogOnce(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, nil)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"seed", "--products=30", "--sellers=2"}, getenv, &out, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if !strings.Contains(out.String(), "loaded 9 categories and 30 products from 2 sellers") {
		t.Errorf("seed printed %q", out.String())
	}
	addrs, stop := startServe(t, getenv)
	status, body := get(t, "http://"+addrs["products"]+"/internal/v1/products")
	if status != http.StatusOK {
		t.Fatalf("export = %d %s", status, body)
	}
	var page struct {
		Items []struct {
			Category string `json:"category"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Items) != 30 {
		t.Fatalf("the catalog holds %d products, want the 30 seeded: %v %s", len(page.Items), err, body)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"seed", "--products=30", "--sellers=2"}, getenv, &out, nil); err != nil {
		t.Fatalf("second seed: %v", err)
	}
	if !strings.Contains(out.String(), "already loaded") {
		t.Errorf("second seed printed %q, want it to add nothing", out.String())
	}
}
