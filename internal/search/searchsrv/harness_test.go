package searchsrv_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
)

// env is a search service on a loopback port over its own data directory
// and RabbitMQ vhost, and a publisher of product events on that vhost.
// No products service answers: these tests feed the index with events
// only (the rebuild from the products service is tested with the real one
// in cmd/marketplace).
type env struct {
	URL    string
	Search *searchsrv.Search
	Config searchsrv.Config
	Issuer *authtest.Issuer
	pub    *events.Publisher
	stop   func()
}

func testConfig(t *testing.T, amqpURL string) searchsrv.Config {
	t.Helper()
	return searchsrv.Config{
		Dir:         t.TempDir(),
		ProductsURL: "http://" + eventstest.DeadURL(t)[len("amqp://guest:guest@"):],
		Events: events.Config{URL: amqpURL, Name: "search-test", DialTimeout: 2 * time.Second,
			ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond},
		Queue:              "search.test",
		Consumers:          4,
		CheckInterval:      time.Hour,
		CategoriesInterval: time.Hour,
		PageSize:           100,
	}
}

// newEnv starts a service over a fresh vhost; change adjusts its
// configuration first.
func newEnv(t *testing.T, change ...func(*searchsrv.Config)) *env {
	t.Helper()
	amqpURL := eventstest.NewVhost(t)
	cfg := testConfig(t, amqpURL)
	for _, f := range change {
		f(&cfg)
	}
	e := start(t, cfg, authtest.NewIssuer(t))
	e.pub = eventstest.Publisher(t, events.Config{URL: amqpURL, Name: "products-test"}, nil)
	return e
}

// start runs a service with cfg: a second start over the same cfg is the
// same instance restarted.
func start(t *testing.T, cfg searchsrv.Config, issuer *authtest.Issuer) *env {
	t.Helper()
	cfg.JWKSURL, cfg.Issuer, cfg.Audience = issuer.JWKSURL, authtest.IssuerName, authtest.Audience
	log := slog.New(slog.DiscardHandler)
	reg := observability.NewRegistry()
	s, err := searchsrv.New(context.Background(), cfg, server.Deps{Log: log, Registry: reg})
	if err != nil {
		t.Fatalf("start search service: %v", err)
	}
	u, stop := servertest.Start(t, log, reg, s.Module("127.0.0.1:0"))
	return &env{URL: u, Search: s, Config: cfg, Issuer: issuer, stop: stop}
}

// restart stops the instance and starts it again on the same data and
// queue.
func (e *env) restart(t *testing.T) {
	t.Helper()
	e.stop()
	n := start(t, e.Config, e.Issuer)
	e.URL, e.Search, e.stop = n.URL, n.Search, n.stop
}

func (e *env) client() httpxtest.Client { return httpxtest.Client{BaseURL: e.URL} }

// product is a product as events carry it.
type product = contracts.ProductV1

// newProduct returns an active lamp at version 1.
func newProduct(title string) product {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return product{ID: uuid.Must(uuid.NewV7()).String(), SellerID: uuid.NewString(), Title: title, Description: "Made with care.",
		Category: "lamps", Price: 4500, Currency: "EUR", Images: []string{"https://img.example.com/1.jpg"},
		Attributes: map[string]any{"colour": "red", "wattage": 9.0}, Status: "active", Version: 1, CreatedAt: now, UpdatedAt: now}
}

// publish sends p as the products service would after writing it.
func (e *env) publish(t *testing.T, p product) {
	t.Helper()
	typ := contracts.ProductUpdated
	var data any = contracts.ProductUpdatedV1{Changed: []string{"title"}, Product: p}
	switch {
	case p.Version == 1:
		typ, data = contracts.ProductCreated, contracts.ProductCreatedV1{Product: p}
	case p.Status == "archived":
		typ, data = contracts.ProductArchived, contracts.ProductArchivedV1{Product: p}
	}
	ev, err := events.New(typ, "products", p.ID, p.Version, contracts.ProductEventVersion, data)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.pub.Publish(ctx, ev); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// waitIndexed waits until the index holds p at version v or later.
func (e *env) waitIndexed(t *testing.T, id string, v int64) {
	t.Helper()
	eventually.True(t, fmt.Sprintf("product %s at version %d indexed", id, v), func() bool {
		got, ok := e.Search.Index.Version(id)
		return ok && got >= v
	})
}

// bound publishes a probe product until it is indexed: until the queue is
// bound, events reach no queue. It returns the probe.
func (e *env) bound(t *testing.T) product {
	t.Helper()
	probe := newProduct("Probe")
	probe.Category = "probes"
	var sent time.Time
	eventually.True(t, "the queue bound", func() bool {
		if _, ok := e.Search.Index.Version(probe.ID); ok {
			return true
		}
		if time.Since(sent) > 200*time.Millisecond {
			e.publish(t, probe)
			sent = time.Now()
		}
		return false
	})
	return probe
}

// page is a listing as the API answers it.
type page struct {
	Items []struct {
		ID         string         `json:"id"`
		Title      string         `json:"title"`
		Version    int64          `json:"version"`
		Status     string         `json:"status"`
		Attributes map[string]any `json:"attributes"`
	} `json:"items"`
	Next   string `json:"next_cursor"`
	Facets struct {
		Attributes map[string][]struct {
			Value any   `json:"value"`
			Count int64 `json:"count"`
		} `json:"attributes"`
		Prices []struct {
			Min, Max, Count int64
		} `json:"prices"`
	} `json:"facets"`
}

func (e *env) list(t *testing.T, who httpxtest.Caller, query url.Values) page {
	t.Helper()
	var p page
	e.client().Do(t, who, "GET", "/v1/products?"+query.Encode(), nil).Want(t, 200).Decode(t, &p)
	return p
}
