package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
)

// catalogPair is a products service and a search service fed by its
// events and rebuilt from it, each on a loopback port, over a throwaway
// catalog database, Redis prefix, RabbitMQ vhost and data directory.
type catalogPair struct {
	products httpxtest.Client
	search   httpxtest.Client
	issuer   *authtest.Issuer
	admin    httpxtest.Caller
	cfg      searchsrv.Config
	svc      *searchsrv.Search
	stop     func()
}

func newCatalogPair(t testing.TB, change ...func(*searchsrv.Config)) *catalogPair {
	t.Helper()
	e := config.FromLookup(testEnv(t, map[string]string{"PRODUCTS_RELAY_INTERVAL": "100ms"}))
	pc := productsrv.LoadConfig(e, config.LoadShared(e))
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	issuer := authtest.NewIssuer(t)
	pc.JWKSURL, pc.Issuer, pc.Audience = issuer.JWKSURL, authtest.IssuerName, authtest.Audience
	log := slog.New(slog.DiscardHandler)
	reg := observability.NewRegistry()
	p, err := productsrv.New(context.Background(), pc, server.Deps{Log: log, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	productsURL, _ := servertest.Start(t, log, reg, p.Module("127.0.0.1:0"))
	admin := httpxtest.Caller{ID: "0193a000-0000-7000-8000-000000000001"}
	admin.Token = issuer.Token(t, admin.ID, auth.RoleAdmin, auth.RoleSeller)
	c := &catalogPair{products: httpxtest.Client{BaseURL: productsURL}, issuer: issuer, admin: admin}
	c.products.Do(t, admin, "PUT", "/v1/categories/lamps", map[string]any{"name": "Lamps", "facets": []string{"colour"}}).Want(t, 201)
	c.cfg = searchsrv.Config{Dir: t.TempDir(), ProductsURL: productsURL, Events: pc.Events,
		Queue: "search.test", Consumers: 4, CheckInterval: time.Hour, Settle: 100 * time.Millisecond,
		CategoriesInterval: time.Hour, PageSize: 50, JWKSURL: issuer.JWKSURL, Issuer: authtest.IssuerName, Audience: authtest.Audience}
	c.cfg.Events.Name = "search-test"
	for _, f := range change {
		f(&c.cfg)
	}
	return c
}

// startSearch starts (or restarts) the search service and waits until it
// is ready.
func (c *catalogPair) startSearch(t testing.TB) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	reg := observability.NewRegistry()
	s, err := searchsrv.New(context.Background(), c.cfg, server.Deps{Log: log, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	u, stop := servertest.Start(t, log, reg, s.Module("127.0.0.1:0"))
	c.search, c.svc, c.stop = httpxtest.Client{BaseURL: u}, s, stop
	eventually.True(t, "the search service is ready", func() bool { return s.Ready(context.Background()) == nil },
		eventually.Within(time.Minute))
}

// seller is one of the sellers writing products.
func (c *catalogPair) seller(t testing.TB, i int) httpxtest.Caller {
	t.Helper()
	id := fmt.Sprintf("0193a000-0000-7000-8000-1000000000%02d", i)
	return httpxtest.Caller{ID: id, Token: c.issuer.Token(t, id, auth.RoleSeller)}
}

// wrote is a product as the products service answered a write.
type wrote map[string]any

func (w wrote) id() string     { return w["id"].(string) }
func (w wrote) version() int64 { return int64(w["version"].(float64)) }
func (w wrote) status() string { return w["status"].(string) }

// randomWrite makes one random write of seller's: a new product, or a
// change of one of own (title and attributes, price, publishing a draft,
// archiving).
func (c *catalogPair) randomWrite(r *rand.Rand, seller httpxtest.Caller, own []wrote) (wrote, int, error) {
	colours := []string{"red", "blue", "green"}
	i := r.IntN(len(own) + 1)
	if i == len(own) || r.IntN(4) == 0 || own[i].status() == "archived" {
		status := []string{"draft", "active"}[r.IntN(2)]
		res, err := c.products.Request(seller, "POST", "/v1/products", map[string]any{
			"title": fmt.Sprintf("Lamp %d", r.IntN(1000)), "description": "Made for the race.", "category": "lamps",
			"price": map[string]any{"amount": 1000 + r.IntN(9000), "currency": "EUR"}, "status": status,
			"attributes": map[string]any{"colour": colours[r.IntN(3)], "wattage": r.IntN(60)}})
		return decodeWrote(res, err, len(own))
	}
	p := own[i]
	ifMatch := []string{"If-Match", fmt.Sprintf(`"%d"`, p.version())}
	path := "/v1/products/" + p.id()
	var res httpxtest.Response
	var err error
	switch r.IntN(4) {
	case 0:
		res, err = c.products.Request(seller, "PATCH", path, map[string]any{"title": fmt.Sprintf("Lamp %d", r.IntN(1000)),
			"attributes": map[string]any{"colour": colours[r.IntN(3)]}}, ifMatch...)
	case 1:
		res, err = c.products.Request(seller, "PATCH", path, map[string]any{"price": map[string]any{"amount": 1000 + r.IntN(9000), "currency": "EUR"}}, ifMatch...)
	case 2:
		res, err = c.products.Request(seller, "PATCH", path, map[string]any{"status": "active"}, ifMatch...)
	default:
		res, err = c.products.Request(seller, "POST", path+"/archive", nil, ifMatch...)
	}
	return decodeWrote(res, err, i)
}

func decodeWrote(res httpxtest.Response, err error, i int) (wrote, int, error) {
	if err != nil {
		return nil, i, err
	}
	if res.Status != http.StatusOK && res.Status != http.StatusCreated {
		return nil, i, fmt.Errorf("status %d: %s", res.Status, res.Body)
	}
	var w wrote
	err = json.Unmarshal(res.Body, &w)
	return w, i, err
}

// writeConcurrently makes n random writes from workers sellers at once.
func (c *catalogPair) writeConcurrently(t *testing.T, n, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2026))
			seller := c.seller(t, w)
			var own []wrote
			for range n / workers {
				p, i, err := c.randomWrite(r, seller, own)
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
				if i == len(own) {
					own = append(own, p)
				} else {
					own[i] = p
				}
			}
		})
	}
	wg.Wait()
}

// catalogProducts reads every product of the catalog from the products
// service, by id.
func (c *catalogPair) catalogProducts(t *testing.T) map[string]any {
	t.Helper()
	var all struct {
		Items []map[string]any `json:"items"`
	}
	c.products.Do(t, httpxtest.Anonymous, "GET", "/internal/v1/products", nil).Want(t, 200).Decode(t, &all)
	out := map[string]any{}
	for _, p := range all.Items {
		out[p["id"].(string)] = p
	}
	return out
}

// indexedProducts reads every product from the search service's public
// listing, page by page: each seller's shop, as an admin sees it (every
// status).
func (c *catalogPair) indexedProducts(t *testing.T, sellers []string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, s := range sellers {
		q := url.Values{"seller": {s}, "limit": {"100"}}
		for {
			var page struct {
				Items []map[string]any `json:"items"`
				Next  string           `json:"next_cursor"`
			}
			c.search.Do(t, c.admin, "GET", "/v1/products?"+q.Encode(), nil).Want(t, 200).Decode(t, &page)
			for _, p := range page.Items {
				out[p["id"].(string)] = p
			}
			if page.Next == "" {
				break
			}
			q.Set("cursor", page.Next)
		}
	}
	return out
}

func sellersOf(products map[string]any) []string {
	var out []string
	for _, p := range products {
		if s := p.(map[string]any)["seller_id"].(string); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// waitConsistent waits until the index holds the catalog field by field.
// It returns how long the index took to hold as many products and
// versions as the catalog: a cheap check, polled often, so the time is
// close to the index's lag.
func (c *catalogPair) waitConsistent(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually.True(t, "the index holds the catalog's products and versions", func() bool {
		if c.svc == nil {
			return true // another process's: the field comparison below waits
		}
		var sum struct {
			Products   int64 `json:"products"`
			VersionSum int64 `json:"version_sum"`
		}
		c.products.Do(t, httpxtest.Anonymous, "GET", "/internal/v1/products/summary", nil).Want(t, 200).Decode(t, &sum)
		st := c.svc.Index.Stats()
		return st.Products == sum.Products && st.VersionSum == sum.VersionSum
	}, eventually.Within(timeout))
	took := time.Since(start)
	eventually.NoError(t, "the index holds the catalog field by field", func() error {
		want := c.catalogProducts(t)
		got := c.indexedProducts(t, sellersOf(want))
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("(-catalog +index):\n%s", diff)
		}
		return nil
	}, eventually.Within(max(timeout-took, time.Millisecond)))
	return took
}

func TestAfterManyConcurrentWritesTheIndexHoldsTheCatalogFieldByField(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	c := newCatalogPair(t)
	c.startSearch(t)
	// The queue is bound once a product written now is searchable.
	probe := c.products.Do(t, c.admin, "POST", "/v1/products", map[string]any{"title": "Probe", "category": "lamps",
		"price": map[string]any{"amount": 100, "currency": "EUR"}, "status": "active"}).Want(t, 201)
	var pr wrote
	probe.Decode(t, &pr)
	eventually.True(t, "the probe is indexed", func() bool { v, ok := c.svc.Index.Version(pr.id()); return ok && v == 1 })

	const writes = 1000
	start := time.Now()
	c.writeConcurrently(t, writes, 8)
	took := time.Since(start)
	converged := c.waitConsistent(t, 60*time.Second)
	t.Logf("%d writes from 8 sellers in %s; the index held the catalog %s after the last write", writes, took.Round(time.Millisecond), converged.Round(time.Millisecond))
}

func TestAnEmptyIndexIsBuiltFromTheCatalogAndOneBehindCatchesUp(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	c := newCatalogPair(t, func(cfg *searchsrv.Config) { cfg.CheckInterval = 300 * time.Millisecond })
	// Written before the search service exists: their events reach no
	// queue of its.
	c.writeConcurrently(t, 120, 4)
	c.startSearch(t)
	c.waitConsistent(t, 30*time.Second)

	// Behind: its queue is lost while it is down, with the events of the
	// writes made meanwhile.
	c.stop()
	deleteQueue(t, c.cfg.Events.URL, c.cfg.Queue)
	c.writeConcurrently(t, 60, 4)
	c.startSearch(t)
	c.waitConsistent(t, 30*time.Second)

	// On demand: marketplace reindex reads everything again and finds
	// nothing to change.
	var out strings.Builder
	if err := run(context.Background(), []string{"reindex", "--search-url", c.search.BaseURL}, lookup(nil), &out, nil); err != nil {
		t.Fatalf("reindex: %v", err)
	}
	n := len(c.catalogProducts(t))
	if want := fmt.Sprintf("read %d products, 0 of them new", n); !strings.Contains(out.String(), want) {
		t.Errorf("reindex said %q, want %q", out.String(), want)
	}
}

func deleteQueue(t *testing.T, amqpURL, queue string) {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		t.Fatal(err)
	}
}

func TestASearchProcessKilledMidStreamConvergesAfterARestart(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	issuer := authtest.NewIssuer(t)
	vars := testVars(t, map[string]string{"AUTH_JWKS_URL": issuer.JWKSURL, "AUTH_ISSUER": authtest.IssuerName,
		"AUTH_AUDIENCE": authtest.Audience, "PRODUCTS_RELAY_INTERVAL": "100ms"})
	products := startProcess(t, "products", "products", vars)
	vars["SEARCH_PRODUCTS_URL"] = "http://" + products.addr
	search := startProcess(t, "search", "search", vars)
	admin := httpxtest.Caller{ID: "0193a000-0000-7000-8000-000000000001"}
	admin.Token = issuer.Token(t, admin.ID, auth.RoleAdmin, auth.RoleSeller)
	c := &catalogPair{products: httpxtest.Client{BaseURL: "http://" + products.addr}, search: httpxtest.Client{BaseURL: "http://" + search.addr},
		issuer: issuer, admin: admin}
	c.products.Do(t, admin, "PUT", "/v1/categories/lamps", map[string]any{"name": "Lamps", "facets": []string{"colour"}}).Want(t, 201)
	eventually.True(t, "the search process is ready", func() bool {
		res, err := c.search.Request(httpxtest.Anonymous, "GET", "/readyz", nil)
		return err == nil && res.Status == http.StatusOK
	}, eventually.Within(time.Minute))

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeConcurrently(t, 400, 4)
	}()
	eventually.True(t, "the search process indexed some of the writes", func() bool {
		res, err := c.search.Request(httpxtest.Anonymous, "GET", "/v1/products?limit=1", nil)
		return err == nil && res.Status == http.StatusOK && strings.Contains(string(res.Body), `"id"`)
	}, eventually.Within(time.Minute))
	search.kill() // SIGKILL, mid-stream
	search = startProcess(t, "search", "search", vars)
	c.search = httpxtest.Client{BaseURL: "http://" + search.addr}
	<-done
	c.waitConsistent(t, 60*time.Second)
}
