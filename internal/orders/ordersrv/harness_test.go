package ordersrv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/auth/authtest"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
)

type caller = httpxtest.Caller

// testPIIKey seals shipping addresses in every instance of every test, so
// that a restarted instance, or a store a test opens itself, opens what an
// earlier one sealed.
var testPIIKey = fieldcrypt.Key{ID: "test", Secret: bytes.Repeat([]byte{7}, fieldcrypt.KeySize)}

// testStore opens the orders store of a world's database with the test key.
func testStore(t testing.TB, pool *pgxpool.Pool) *orderdb.Store {
	t.Helper()
	k, err := fieldcrypt.NewKeyring([]fieldcrypt.Key{testPIIKey})
	if err != nil {
		t.Fatal(err)
	}
	return orderdb.New(pool, k)
}

var anonymous = httpxtest.Anonymous

// world is what one test's instances share: a database, a broker vhost,
// a token issuer and a catalog.
type world struct {
	cfg     ordersrv.Config
	issuer  *authtest.Issuer
	catalog *catalogStub
	pub     *events.Publisher
	db      *pgxpool.Pool // the test's own connections to the service's database
}

func newWorld(t testing.TB) *world {
	t.Helper()
	dbURL, db := pgtest.New(t, orderdb.Migrations())
	vhost := eventstest.NewVhost(t)
	cat := newCatalogStub(t)
	issuer := authtest.NewIssuer(t)
	pub, err := events.NewPublisher(context.Background(), events.Config{URL: vhost, Name: "test-products"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	cfg := ordersrv.Config{
		DatabaseURL:    dbURL,
		ProductsURL:    cat.URL,
		JWKSURL:        issuer.JWKSURL,
		Issuer:         authtest.IssuerName,
		Audience:       authtest.Audience,
		Events:         events.Config{URL: vhost, Name: "orders-test"},
		ReservationTTL: 15 * time.Minute,
		ChargeTimeout:  2 * time.Second,
		SweepInterval:  100 * time.Millisecond,
		ResolveGrace:   3 * time.Second,
		RelayInterval:  100 * time.Millisecond,
		KeyRetention:   48 * time.Hour,
		Gateway:        "simulated",
		DataDir:        t.TempDir(),
		PIIKeys:        []fieldcrypt.Key{testPIIKey},
	}
	return &world{cfg: cfg, issuer: issuer, catalog: cat, pub: pub, db: db}
}

// queryInt runs a query that returns one integer on the world's database.
func (w *world) queryInt(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// testEnv is one running orders instance.
type testEnv struct {
	httpxtest.Client
	*world
	Orders *ordersrv.Orders
	stop   func()
}

// newEnv starts an instance with a fresh world and the simulated gateway.
func newEnv(t testing.TB) (*testEnv, *payment.Simulated) {
	t.Helper()
	gw := payment.NewSimulated(payment.SimulatedConfig{Seed: 1})
	return newWorld(t).start(t, gw), gw
}

// start runs an instance of the world's service with gateway gw.
func (w *world) start(t testing.TB, gw orders.PaymentGateway) *testEnv {
	t.Helper()
	return w.startWith(t, w.cfg, gw)
}

func (w *world) startWith(t testing.TB, cfg ordersrv.Config, gw orders.PaymentGateway) *testEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	reg := observability.NewRegistry()
	o, err := ordersrv.NewWithPayments(context.Background(), cfg, server.Deps{Log: log, Registry: reg}, gw)
	if err != nil {
		t.Fatalf("start orders service: %v", err)
	}
	url, stop := servertest.Start(t, log, reg, o.Module("127.0.0.1:0"))
	e := &testEnv{Client: httpxtest.Client{BaseURL: url}, world: w, Orders: o, stop: stop}
	if cfg.Events.URL == w.cfg.Events.URL {
		e.waitSubscribed(t)
	}
	return e
}

// waitSubscribed waits until the instance's product consumer has bound its
// queue: events published before that reach no queue, so the probe is
// published again until one arrives.
func (e *testEnv) waitSubscribed(t testing.TB) {
	t.Helper()
	probe := contracts.ProductV1{ID: uuid.Must(uuid.NewV7()).String(), SellerID: uuid.NewString(), Title: "Probe",
		Price: 1, Currency: "EUR", Status: "draft", Version: 1}
	sent := time.Time{}
	eventually.True(t, "the product consumer subscribed", func() bool {
		if ps, err := e.Orders.Store.Products(context.Background(), []string{probe.ID}); err == nil && len(ps) == 1 {
			return true
		}
		if time.Since(sent) > 200*time.Millisecond {
			e.publishProduct(t, contracts.ProductCreated, probe)
			sent = time.Now()
		}
		return false
	})
}

// Stop shuts the instance down before the test ends.
func (e *testEnv) Stop() { e.stop() }

func (w *world) newCaller(t testing.TB, roles ...string) caller {
	t.Helper()
	id := uuid.NewString()
	return caller{ID: id, Token: w.issuer.Token(t, id, roles...)}
}

func (w *world) buyer(t testing.TB) caller  { return w.newCaller(t, auth.RoleBuyer) }
func (w *world) seller(t testing.TB) caller { return w.newCaller(t, auth.RoleBuyer, auth.RoleSeller) }
func (w *world) admin(t testing.TB) caller  { return w.newCaller(t, auth.RoleBuyer, auth.RoleAdmin) }

// publishProduct sends a product event as the products service would.
func (w *world) publishProduct(t testing.TB, typ string, p contracts.ProductV1) {
	t.Helper()
	var data any = contracts.ProductCreatedV1{Product: p}
	if typ == contracts.ProductUpdated {
		data = contracts.ProductUpdatedV1{Changed: []string{"title", "price"}, Product: p}
	}
	ev, err := events.New(typ, "products", p.ID, p.Version, contracts.ProductEventVersion, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// product makes an active product of seller's known to the instance (by
// its event) with onHand units in stock.
func (e *testEnv) product(t testing.TB, seller caller, price int64, currency string, onHand int64) contracts.ProductV1 {
	t.Helper()
	p := contracts.ProductV1{ID: uuid.Must(uuid.NewV7()).String(), SellerID: seller.ID, Title: "Product " + uuid.NewString()[:8],
		Category: "test", Price: price, Currency: currency, Status: "active", Version: 1, UpdatedAt: time.Now().UTC()}
	e.publishProduct(t, contracts.ProductCreated, p)
	e.waitProjection(t, p.ID, p.Version)
	e.Do(t, seller, "PUT", "/v1/stock/"+p.ID, map[string]any{"on_hand": onHand}).Want(t, http.StatusOK)
	return p
}

// waitProjection waits until the projection holds the product at version.
func (e *testEnv) waitProjection(t testing.TB, id string, version int64) orders.Product {
	t.Helper()
	return eventually.Value(t, fmt.Sprintf("product %s version %d in the projection", id, version), func() (orders.Product, bool) {
		ps, err := e.Orders.Store.Products(context.Background(), []string{id})
		if err != nil {
			t.Fatal(err)
		}
		p, ok := ps[id]
		return p, ok && p.Version >= version
	})
}

// orderBody is an order as the API returns it.
type orderBody = orders.Order

type subOrderBody = orders.SubOrder

func item(p contracts.ProductV1, q int) map[string]any {
	return map[string]any{"product_id": p.ID, "quantity": q}
}

// address is a valid shipping address as a client sends it.
func address() map[string]any {
	return map[string]any{"name": "Ada Lovelace", "line1": "Zaunkönigweg 17", "line2": "Hinterhaus", "city": "Berlin",
		"region": "BE", "postal_code": "10115", "country": "DE"}
}

// theAddress is address() as the API returns it.
var theAddress = &orders.Address{Name: "Ada Lovelace", Line1: "Zaunkönigweg 17", Line2: "Hinterhaus", City: "Berlin",
	Region: "BE", PostalCode: "10115", Country: "DE"}

// checkoutBody is a valid body of POST /v1/orders: the items given, or
// the cart when none are, shipped to address() (required, ADR 0041).
func checkoutBody(items ...map[string]any) map[string]any {
	b := map[string]any{"shipping_address": address()}
	if len(items) > 0 {
		b["items"] = items
	}
	return b
}

func (e *testEnv) checkout(t testing.TB, buyer caller, items ...map[string]any) httpxtest.Response {
	t.Helper()
	return e.Do(t, buyer, "POST", "/v1/orders", checkoutBody(items...))
}

func (e *testEnv) mustCheckout(t testing.TB, buyer caller, items ...map[string]any) orderBody {
	t.Helper()
	var o orderBody
	e.checkout(t, buyer, items...).Want(t, http.StatusCreated).Decode(t, &o)
	return o
}

func (e *testEnv) mustPay(t testing.TB, buyer caller, orderID, method string) orderBody {
	t.Helper()
	var o orderBody
	e.Do(t, buyer, "POST", "/v1/orders/"+orderID+"/payment", map[string]any{"payment_method": method}).Want(t, http.StatusOK).Decode(t, &o)
	return o
}

func (e *testEnv) mustOrder(t testing.TB, c caller, id string) orderBody {
	t.Helper()
	var o orderBody
	e.Do(t, c, "GET", "/v1/orders/"+id, nil).Want(t, http.StatusOK).Decode(t, &o)
	return o
}

func (e *testEnv) stock(t testing.TB, productID string) orders.Stock {
	t.Helper()
	st, err := e.Orders.Store.Stock(context.Background(), productID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// catalogStub stands in for the products service's GET /v1/products/{id},
// for products the projection has not heard of; it can be made to fail.
type catalogStub struct {
	*httptest.Server
	mu       sync.Mutex
	products map[string]orders.Product
	failing  bool
	calls    int
}

func newCatalogStub(t testing.TB) *catalogStub {
	t.Helper()
	c := &catalogStub{products: map[string]orders.Product{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls++
		if c.failing {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var id string
		if _, err := fmt.Sscanf(r.URL.Path, "/v1/products/%s", &id); err != nil {
			http.NotFound(w, r)
			return
		}
		// As the products service does, a draft is shown to a caller with
		// a token only (the stub trusts it: the service would check it is
		// the seller's).
		p, ok := c.products[id]
		if !ok || p.Status != orders.ProductActive && r.Header.Get("Authorization") == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *catalogStub) put(p orders.Product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.products[p.ID] = p
}

func (c *catalogStub) setFailing(f bool) (calls int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failing = f
	return c.calls
}
