package productsrv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/cache/cachetest"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
)

// testEnv is a products service on a loopback port over its own Mongo
// database (embedded FerretDB, or MONGODB_URI), Redis key prefix and
// RabbitMQ vhost, trusting tokens of a test issuer.
type testEnv struct {
	URL      string
	Products *productsrv.Products
	Issuer   *authtest.Issuer
	Config   productsrv.Config
	stop     func() // shuts the instance down; idempotent
}

// testConfig returns the configuration of a fresh, isolated service.
func testConfig(t *testing.T) (productsrv.Config, *authtest.Issuer) {
	t.Helper()
	issuer := authtest.NewIssuer(t)
	return productsrv.Config{
		Mongo:         mongo.Config{URI: mongotest.URI(t), Database: mongotest.Name(t)},
		RedisURL:      "redis://" + cachetest.Addr() + "/0",
		CachePrefix:   cachetest.Prefix(t),
		CacheTTL:      time.Minute,
		Events:        events.Config{URL: eventstest.NewVhost(t), Name: "products-test"},
		RelayInterval: 50 * time.Millisecond,
		JWKSURL:       issuer.JWKSURL,
		Issuer:        authtest.IssuerName,
		Audience:      authtest.Audience,
	}, issuer
}

// newEnv starts a service; change adjusts its configuration first.
func newEnv(t *testing.T, change ...func(*productsrv.Config)) *testEnv {
	t.Helper()
	cfg, issuer := testConfig(t)
	for _, f := range change {
		f(&cfg)
	}
	return startEnv(t, cfg, issuer)
}

// startEnv runs a service with cfg; two calls with one cfg give two
// instances over the same database, cache and broker.
func startEnv(t *testing.T, cfg productsrv.Config, issuer *authtest.Issuer) *testEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	// One registry for the service and the server, as in production, so
	// that /metrics shows the cache counters.
	reg := observability.NewRegistry()
	p, err := productsrv.New(context.Background(), cfg, server.Deps{Log: log, Registry: reg})
	if err != nil {
		t.Fatalf("start products service: %v", err)
	}
	url, stop := servertest.Start(t, log, reg, p.Module("127.0.0.1:0"))
	return &testEnv{URL: url, Products: p, Issuer: issuer, Config: cfg, stop: stop}
}

// Stop shuts the instance down before the test ends, closing its relay,
// as a crash or a deploy would.
func (e *testEnv) Stop() { e.stop() }

// caller is someone calling the API: a token, or none for anonymous.
type caller struct {
	ID    string
	Token string
}

var anonymous = caller{}

// newCaller returns a caller with a fresh id and the given roles.
func (e *testEnv) newCaller(t *testing.T, roles ...string) caller {
	t.Helper()
	id := uuid.NewString()
	return caller{ID: id, Token: e.Issuer.Token(t, id, roles...)}
}

func (e *testEnv) seller(t *testing.T) caller { return e.newCaller(t, auth.RoleBuyer, auth.RoleSeller) }
func (e *testEnv) buyer(t *testing.T) caller  { return e.newCaller(t, auth.RoleBuyer) }
func (e *testEnv) admin(t *testing.T) caller  { return e.newCaller(t, auth.RoleBuyer, auth.RoleAdmin) }

// response is what a request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request: body nil, a string (sent as is) or a value (JSON);
// header holds name, value pairs.
func (e *testEnv) do(t *testing.T, c caller, method, path string, body any, header ...string) response {
	t.Helper()
	res, err := e.request(c, method, path, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// request is do without a test, for goroutines.
func (e *testEnv) request(c caller, method, path string, body any, header ...string) (response, error) {
	r, err := httpxtest.Client{BaseURL: e.URL}.Request(httpxtest.Caller(c), method, path, body, header...)
	return response(r), err
}

// want fails the test unless the response has the given status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}

// wantProblem checks a problem+json answer's status and code.
func (r response) wantProblem(t *testing.T, status int, code string) {
	t.Helper()
	r.want(t, status)
	var p struct {
		Code string `json:"code"`
	}
	r.decode(t, &p)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" || p.Code != code {
		t.Fatalf("got %s %q, want problem code %q; body %s", ct, p.Code, code, r.Body)
	}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// productBody is a product as the API returns it.
type productBody struct {
	ID          string         `json:"id"`
	SellerID    string         `json:"seller_id"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Category    string         `json:"category"`
	Price       moneyBody      `json:"price"`
	Images      []string       `json:"images"`
	Attributes  map[string]any `json:"attributes"`
	Status      string         `json:"status"`
	Version     int64          `json:"version"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

type moneyBody struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// mustCategory creates a category as an admin.
func (e *testEnv) mustCategory(t *testing.T, id, parent string, facets ...string) {
	t.Helper()
	if facets == nil {
		facets = []string{}
	}
	e.do(t, e.admin(t), "PUT", "/v1/categories/"+id, map[string]any{"name": strings.ToUpper(id[:1]) + id[1:], "parent": parent, "facets": facets}).
		want(t, http.StatusCreated)
}

// mustProduct creates an active product for seller in category.
func (e *testEnv) mustProduct(t *testing.T, seller caller, category, title string, price int64, attrs map[string]any) productBody {
	t.Helper()
	if attrs == nil {
		attrs = map[string]any{}
	}
	var p productBody
	e.do(t, seller, "POST", "/v1/products", map[string]any{
		"title": title, "category": category, "price": map[string]any{"amount": price, "currency": "EUR"},
		"attributes": attrs, "status": "active",
	}).want(t, http.StatusCreated).decode(t, &p)
	return p
}

// productOf returns the body of a valid product: an active lamp for 19.99
// EUR, with fields overridden by change (a nil value removes a field).
func productOf(category string, change map[string]any) map[string]any {
	b := map[string]any{
		"title": "Desk Lamp", "description": "A lamp.", "category": category,
		"price":  map[string]any{"amount": 1999, "currency": "EUR"},
		"images": []string{"https://img.example.com/lamp.jpg"}, "attributes": map[string]any{}, "status": "active",
	}
	for k, v := range change {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

// mustCreate creates a product from body, which must be accepted.
func (e *testEnv) mustCreate(t *testing.T, c caller, body map[string]any) productBody {
	t.Helper()
	var p productBody
	e.do(t, c, "POST", "/v1/products", body).want(t, http.StatusCreated).decode(t, &p)
	return p
}

// mustGet reads a product the caller may see.
func (e *testEnv) mustGet(t *testing.T, c caller, id string) productBody {
	t.Helper()
	var p productBody
	e.do(t, c, "GET", "/v1/products/"+id, nil).want(t, http.StatusOK).decode(t, &p)
	return p
}

// mustPatch changes a product at the given version.
func (e *testEnv) mustPatch(t *testing.T, c caller, id string, version int64, patch map[string]any) productBody {
	t.Helper()
	var p productBody
	e.do(t, c, "PATCH", "/v1/products/"+id, patch, "If-Match", etagOf(version)).want(t, http.StatusOK).decode(t, &p)
	return p
}

// mustArchive archives a product at the given version.
func (e *testEnv) mustArchive(t *testing.T, c caller, id string, version int64) productBody {
	t.Helper()
	var p productBody
	e.do(t, c, "POST", "/v1/products/"+id+"/archive", nil, "If-Match", etagOf(version)).want(t, http.StatusOK).decode(t, &p)
	return p
}

func etagOf(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// stored returns every product of the store, whatever its status, that
// keep accepts, read through the internal export the search service
// rebuilds from: the service has no public listing of its own.
func (e *testEnv) stored(t *testing.T, keep func(productBody) bool) []productBody {
	t.Helper()
	var all struct {
		Items []productBody `json:"items"`
	}
	e.do(t, anonymous, "GET", "/internal/v1/products", nil).want(t, http.StatusOK).decode(t, &all)
	var out []productBody
	for _, p := range all.Items {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// storedOf returns every product of seller, whatever its status.
func (e *testEnv) storedOf(t *testing.T, seller caller) []productBody {
	t.Helper()
	return e.stored(t, func(p productBody) bool { return p.SellerID == seller.ID })
}

// facetsOf returns the facets of category id as GET /v1/categories lists them.
func (e *testEnv) facetsOf(t *testing.T, id string) []string {
	t.Helper()
	var body struct {
		Categories []struct {
			ID     string   `json:"id"`
			Facets []string `json:"facets"`
		} `json:"categories"`
	}
	e.do(t, anonymous, "GET", "/v1/categories", nil).want(t, http.StatusOK).decode(t, &body)
	for _, c := range body.Categories {
		if c.ID == id {
			return c.Facets
		}
	}
	t.Fatalf("no category %s", id)
	return nil
}

func ids(items []productBody) []string {
	out := make([]string, len(items))
	for i, p := range items {
		out[i] = p.ID
	}
	return out
}

func titles(items []productBody) []string {
	out := make([]string, len(items))
	for i, p := range items {
		out[i] = p.Title
	}
	return out
}

// concurrently sends n requests at once, the i-th made by req(i), and
// returns the answers in order. Transport errors fail the test.
func (e *testEnv) concurrently(t *testing.T, n int, req func(i int) (c caller, method, path string, body any, header []string)) []response {
	t.Helper()
	return httpxtest.Race(t, n, func(i int) (response, error) {
		c, method, path, body, header := req(i)
		return e.request(c, method, path, body, header...)
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
// categories and sellers and looks only at their products.
type scenario struct {
	name string
	test func(t *testing.T, e *testEnv)
}

// runScenarios runs scenarios one after the other against e. Sharing a
// service saves a database and a vhost per scenario, most of their cost.
func runScenarios(t *testing.T, e *testEnv, scenarios ...scenario) {
	t.Helper()
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.test(t, e) })
	}
}

// cacheCount reads a counter of the service's cache from /metrics:
// "hits", "misses" or "errors".
func (e *testEnv) cacheCount(t *testing.T, counter string) float64 {
	t.Helper()
	r := e.do(t, anonymous, "GET", "/metrics", nil).want(t, http.StatusOK)
	prefix := `cache_` + counter + `_total{cache="` + strings.TrimSuffix(e.Config.CachePrefix, ":") + `"} `
	for line := range strings.Lines(string(r.Body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// eventLog records the product events a test queue receives.
type eventLog struct {
	mu     sync.Mutex
	events []events.Event
	probes map[string]bool // ids of the probes received, kept out of events
	pub    *events.Publisher
}

// probeType is the type of the probes the log publishes to itself.
const probeType = "product.probe"

// consume binds a queue to "product.*" on the broker at amqpURL and
// records what arrives until the test ends. It returns once the binding
// is proven to work, so events published afterwards all arrive.
func consume(t *testing.T, amqpURL string) *eventLog {
	t.Helper()
	cfg := events.Config{URL: amqpURL, Name: "products-test-consumer"}
	consumer, err := events.NewConsumer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &eventLog{probes: map[string]bool{}, pub: eventstest.Publisher(t, cfg, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- consumer.Consume(ctx, events.ConsumerConfig{Queue: "test.products", Bindings: []string{"product.*"}},
			func(_ context.Context, ev events.Event) error {
				l.mu.Lock()
				defer l.mu.Unlock()
				if ev.Type == probeType {
					l.probes[ev.ID] = true
				} else {
					l.events = append(l.events, ev)
				}
				return nil
			})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consume: %v", err)
		}
	})
	l.waitBound(t)
	return l
}

// probe publishes a probe and returns its id.
func (l *eventLog) probe(t *testing.T) string {
	t.Helper()
	p, err := events.New(probeType, "test", "probe", 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.pub.Publish(context.Background(), p); err != nil {
		t.Fatalf("publish probe: %v", err)
	}
	return p.ID
}

func (l *eventLog) received(probeID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.probes[probeID]
}

// waitBound publishes probes until one arrives: until then the queue may
// not be bound yet and events would be dropped as unroutable.
func (l *eventLog) waitBound(t *testing.T) {
	t.Helper()
	var sent []string
	eventually.True(t, "the test queue bound", func() bool {
		sent = append(sent, l.probe(t))
		return slices.ContainsFunc(sent, l.received)
	})
}

// fence publishes a probe and waits until it arrives. The queue is FIFO:
// everything published before the fence, duplicates included, has been
// recorded by then, so a test may assert what is not in the log.
func (l *eventLog) fence(t *testing.T) {
	t.Helper()
	id := l.probe(t)
	eventually.True(t, "the fence received", func() bool { return l.received(id) })
}

// snapshot returns the events received so far, in arrival order.
func (l *eventLog) snapshot() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// dedupe keeps the first event of each id, as a consumer would.
func dedupe(evs []events.Event) []events.Event {
	seen := map[string]bool{}
	var out []events.Event
	for _, ev := range evs {
		if !seen[ev.ID] {
			seen[ev.ID] = true
			out = append(out, ev)
		}
	}
	return out
}

// describe lists events as "type subject@sequence" for failure messages.
func describe(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%s %s@%d", ev.Type, ev.Subject, ev.Sequence)
	}
	return out
}

// problemFields returns the per-field reasons of a problem answer.
func (r response) problemFields(t *testing.T) map[string]string {
	t.Helper()
	var p struct {
		Errors map[string]string `json:"errors"`
	}
	r.decode(t, &p)
	return p.Errors
}
