package ordersrv_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
)

// benchClients is how many clients send requests at once, in the orders
// benchmarks and in pgbench alike.
const benchClients = 16

// BenchmarkCheckout measures orders over HTTP: "checkout" is the checkout
// of one line (the stock reserved, the order written with its outbox
// event); "checkout+pay" adds its payment through the simulated gateway at
// zero latency. It reports orders per second and the p50/p99 latency of
// one order (both requests where there are two). "spread" buys among
// 1,000 products; "hot" has every buyer on one product, so every checkout
// waits for the same stock row. "pgbench" runs TPC-B with as many clients
// on the same server, for scale.
//
//	go test -run '^$' -bench Checkout -benchtime 20s ./internal/orders/ordersrv/
func BenchmarkCheckout(b *testing.B) {
	// The services are set up once, outside the timed sub-benchmarks,
	// which the framework calls several times.
	envs := map[int]*benchEnv{}
	env := func(products int) *benchEnv {
		if envs[products] == nil {
			envs[products] = newBenchEnv(b, products)
		}
		return envs[products]
	}
	for _, bc := range []struct {
		name     string
		products int
		pay      bool
	}{{"checkout/spread", 1000, false}, {"checkout/hot", 1, false}, {"checkout+pay/spread", 1000, true}, {"checkout+pay/hot", 1, true}} {
		b.Run(bc.name, func(b *testing.B) {
			e := env(bc.products)
			var next atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				n := next.Add(1)
				who := e.buyers[int(n)%len(e.buyers)]
				var mine []time.Duration
				for i := 0; pb.Next(); i++ {
					p := e.products[(int(n)*7919+i)%len(e.products)]
					t0 := time.Now()
					if err := benchOrder(e.Client, who, p, bc.pay); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			reportLatency(b, lat, elapsed)
		})
	}
	b.Run("pgbench", func(b *testing.B) {
		// TPC-B on the same server with as many clients, for scale.
		if _, err := exec.LookPath("pgbench"); err != nil {
			b.Skip("pgbench is not installed")
		}
		dbURL, _ := pgtest.New(b, nil)
		if out, err := exec.Command("pgbench", "-i", "-q", "-s", "10", dbURL).CombinedOutput(); err != nil {
			b.Fatalf("pgbench -i: %v\n%s", err, out)
		}
		out, err := exec.Command("pgbench", "-c", strconv.Itoa(benchClients), "-j", "2", "-T", strconv.Itoa(benchSeconds()), dbURL).CombinedOutput()
		if err != nil {
			b.Fatalf("pgbench: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			b.Fatalf("no tps in pgbench output:\n%s", out)
		}
		tps, _ := strconv.ParseFloat(string(m[1]), 64)
		b.ReportMetric(tps, "tps")
		b.ReportMetric(0, "ns/op") // one run of fixed length: only tps means anything
	})
}

// benchEnv is an orders instance with products in stock and buyers.
type benchEnv struct {
	*testEnv
	products []string
	buyers   []caller
}

func newBenchEnv(b *testing.B, products int) *benchEnv {
	w := newWorld(b)
	w.cfg.DatabaseURL = withPoolSize(b, w.cfg.DatabaseURL, benchClients)
	e := &benchEnv{testEnv: w.start(b, payment.NewSimulated(payment.SimulatedConfig{}))}
	// Stocked through the store: setting up a thousand products over HTTP
	// would take longer than the benchmark.
	ctx := context.Background()
	seller := w.seller(b)
	for i := range products {
		p := orders.Product{ID: uuid.Must(uuid.NewV7()).String(), SellerID: seller.ID, Title: fmt.Sprintf("Bench product %d", i),
			Price: orders.Money{Amount: int64(100 + i), Currency: "EUR"}, Status: orders.ProductActive, Version: 1}
		if _, err := e.Orders.Store.SaveProduct(ctx, p, ""); err != nil {
			b.Fatal(err)
		}
		if err := e.Orders.Store.InTx(ctx, func(tx orders.Tx) error {
			_, err := tx.SetStock(ctx, p.ID, 1_000_000_000)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		e.products = append(e.products, p.ID)
	}
	for range benchClients {
		e.buyers = append(e.buyers, w.buyer(b))
	}
	return e
}

// benchOrder checks out one unit of a product and, with pay, pays for it.
func benchOrder(c httpxtest.Client, who caller, productID string, pay bool) error {
	r, err := c.Request(who, "POST", "/v1/orders", checkoutBody(map[string]any{"product_id": productID, "quantity": 1}))
	if err != nil || r.Status != http.StatusCreated {
		return fmt.Errorf("checkout: %v %d %s", err, r.Status, r.Body)
	}
	if !pay {
		return nil
	}
	id := orderID(r.Body)
	r, err = c.Request(who, "POST", "/v1/orders/"+id+"/payment", map[string]any{"payment_method": "pm_card_visa"})
	if err != nil || r.Status != http.StatusOK {
		return fmt.Errorf("pay: %v %d %s", err, r.Status, r.Body)
	}
	return nil
}

var idField = regexp.MustCompile(`"id":"([0-9a-f-]{36})"`)

// orderID reads the order id without decoding the whole order: the client
// shares the CPUs with the service.
func orderID(body []byte) string {
	m := idField.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func reportLatency(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "orders/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// withPoolSize sets the pool's size in a database URL.
func withPoolSize(tb testing.TB, dbURL string, n int) string {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// benchSeconds is the -benchtime as whole seconds, for pgbench's -T.
func benchSeconds() int {
	d, err := time.ParseDuration(flag.Lookup("test.benchtime").Value.String())
	if err != nil {
		return 10 // a count such as 100x, not a time
	}
	return max(5, int(d.Seconds()))
}
