package main

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// TestAnOrdersProcessKilledMidCheckoutLeavesOneOrderAfterRetriesWithinTenSecondsOfItsRestart
// runs the orders service as its own process, behind the gateway of an
// in-process platform, with its database reached through Toxiproxy. Its
// database is made slow (1.5 s a round trip) so that a checkout is caught
// in flight: once the checkout's Idempotency-Key is claimed, the process is
// killed (SIGKILL). The process is started again on the same address, and
// clients retry the same request with the same key at once and together:
// they must all get the same order, within 10 s of the restart, and the
// buyer must have exactly one order.
func TestAnOrdersProcessKilledMidCheckoutLeavesOneOrderAfterRetriesWithinTenSecondsOfItsRestart(t *testing.T) {
	endToEnd(t)
	// Serial: it holds the restarted process to 10 s, a bound that
	// platforms starting beside it on two cores could break.
	tox := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	pg := chaosProxy(t, tox, "postgres", "localhost:5432")

	ordersAddr := freeAddr(t)
	vars := testVars(t, map[string]string{"GATEWAY_ORDERS_URLS": "http://" + ordersAddr})
	addrs, _ := startServe(t, lookup(vars), "--target=users,products,search,gateway")
	base := "http://" + addrs["gateway"]
	ordersVars := maps.Clone(vars)
	ordersVars["ORDERS_ADDR"] = ordersAddr
	ordersVars["ORDERS_DATABASE_URL"] = viaProxy(t, vars["ORDERS_DATABASE_URL"], pg.Listen)
	ordersVars["AUTH_JWKS_URL"] = "http://" + addrs["users"] + "/.well-known/jwks.json"
	ordersVars["ORDERS_PRODUCTS_URL"] = base
	orders := startProcess(t, "orders", "orders", ordersVars)

	db, err := pgxpool.New(t.Context(), vars["ORDERS_DATABASE_URL"]) // past the proxy
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e := loadContract(t).edge(addrs["gateway"])
	seller, refresh := e.signUp(t, "crash-seller@example.com")
	e.openShop(t, seller, "Crash Lamps")
	seller.Token = e.refresh(t, refresh)
	if err := run(t.Context(), []string{"grant-role", "--email=crash-seller@example.com", "--role=admin"}, lookup(vars), io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	admin := httpxtest.Caller{Token: e.refreshAgain(t, "crash-seller@example.com")}
	e.must(t, "putCategory", admin, "PUT /v1/categories/lamps", map[string]any{"name": "Lamps"}, http.StatusCreated)
	lamp := e.listProduct(t, seller, "Crash Lamp", "EUR", "active")
	e.must(t, "putStock", seller, "PUT /v1/stock/"+lamp, map[string]any{"on_hand": 10}, http.StatusOK)
	buyer, _ := e.signUp(t, "crash-buyer@example.com")

	body, _ := json.Marshal(orderOf(orderLine(lamp, 1)))
	const key = "crash-mid-checkout"
	checkout := func() (int, string, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/orders", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+buyer.Token)
		req.Header.Set("Idempotency-Key", key)
		res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		var o struct {
			ID string `json:"id"`
		}
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &o)
		return res.StatusCode, o.ID, nil
	}

	// Slow the orders database down, start a checkout and kill the
	// process once the checkout holds its key.
	if _, err := pg.Toxics.AddToxicJson(strings.NewReader(`{"name":"slow","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":1500}}`)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = checkout() }() // its answer never comes: the process dies
	eventually.True(t, "the checkout claims its key", func() bool {
		var n int
		_ = db.QueryRow(t.Context(), `SELECT count(*) FROM idempotency_keys WHERE key = $1`, key).Scan(&n)
		return n == 1
	})
	orders.kill()
	var before int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM orders`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the orders process mid-checkout (%d orders stored at the kill)", before)
	if err := pg.Toxics.RemoveToxic(t.Context(), "slow"); err != nil {
		t.Fatal(err)
	}

	startProcess(t, "orders-restarted", "orders", ordersVars)
	restarted := time.Now()
	var (
		mu  sync.Mutex
		ids = map[string]bool{}
		wg  sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for time.Since(restarted) < 30*time.Second {
				status, id, err := checkout()
				if err == nil && status == http.StatusCreated {
					mu.Lock()
					ids[id] = true
					mu.Unlock()
					return
				}
				if err == nil && status != http.StatusConflict && status != http.StatusServiceUnavailable {
					t.Errorf("a retry got %d", status)
					return
				}
				time.Sleep(200 * time.Millisecond) // a client's pause between retries
			}
			t.Error("a retry did not complete within 30 s of the restart")
		})
	}
	wg.Wait()
	took := time.Since(restarted)
	t.Logf("the retries completed %s after the restart", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the retries completed %s after the restart, want within 10 s", took)
	}
	var stored, reserved int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM orders WHERE buyer_id = $1`, buyer.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(t.Context(), `SELECT reserved FROM stock WHERE product_id = $1`, lamp).Scan(&reserved); err != nil {
		t.Fatal(err)
	}
	if stored != 1 || len(ids) != 1 || reserved != 1 {
		t.Errorf("%d orders stored, %d order ids answered, %d units reserved; want 1 of each", stored, len(ids), reserved)
	}
}
