package ordersrv_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// apiLease is the lease orderapi claims a key with; a holder that dies
// leaves its key claimed for at most this long.
const apiLease = 6 * time.Second

// requestHash is the hash orderapi stores for a JSON request body.
func requestHash(body string) []byte {
	sum := sha256.Sum256([]byte("application/json\n" + body))
	return sum[:]
}

func TestARetryTakesOverTheKeyOfADeadHolderWithinSeconds(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 1500, "EUR", 10)
	b, _ := json.Marshal(checkoutBody(item(p, 1)))
	body := string(b)

	// A process claimed the key, as orderapi does, and was killed before
	// it made the order: nobody renews its lease.
	crashed := time.Now()
	claim, err := e.Orders.Store.ClaimKey(t.Context(), buyer.ID, "crash-1", "checkout", requestHash(body), uuid.NewString(), apiLease)
	if err != nil || !claim.Owned {
		t.Fatalf("dead holder's claim: %+v, %v", claim, err)
	}

	// Clients retry at once and together after the restart.
	rs := httpxtest.Race(t, 8, func(int) (httpxtest.Response, error) {
		return e.Request(buyer, "POST", "/v1/orders", body, "Idempotency-Key", "crash-1")
	})
	took := time.Since(crashed)
	t.Logf("the retries completed %v after the crash", took)
	if took > 10*time.Second {
		t.Errorf("the retries completed %v after the crash, want within 10s", took)
	}
	ids := map[string]bool{}
	for _, r := range rs {
		var o orderBody
		r.Want(t, http.StatusCreated).Decode(t, &o)
		ids[o.ID] = true
	}
	list, err := e.Orders.Store.Orders(t.Context(), orders.OrderFilter{UserID: buyer.ID, Limit: 10})
	if err != nil || len(list) != 1 || len(ids) != 1 {
		t.Fatalf("%d orders stored (%v), %d in the answers; want exactly 1", len(list), err, len(ids))
	}
	if st := e.stock(t, p.ID); st.Reserved != 1 {
		t.Errorf("%d units reserved, want 1", st.Reserved)
	}
}

func TestAHolderThatLostItsKeyCanNeitherRenewNorAnswerNorOrder(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 1500, "EUR", 10)
	store, ctx := e.Orders.Store, t.Context()
	hash := requestHash(`{}`)

	// The stalled holder's lease is over the moment it is taken (lease 0),
	// so a retry takes the key over at once.
	stalled, retry := uuid.NewString(), uuid.NewString()
	if c, err := store.ClaimKey(ctx, buyer.ID, "lost-1", "checkout", hash, stalled, 0); err != nil || !c.Owned {
		t.Fatalf("first claim: %+v, %v", c, err)
	}
	if c, err := store.ClaimKey(ctx, buyer.ID, "lost-1", "checkout", hash, retry, apiLease); err != nil || !c.Owned {
		t.Fatalf("takeover: %+v, %v", c, err)
	}
	if held, err := store.RenewKey(ctx, buyer.ID, "lost-1", stalled, apiLease); err != nil || held {
		t.Errorf("the stalled holder renewed a key it lost (held %v, err %v)", held, err)
	}
	if err := store.CompleteKey(ctx, buyer.ID, "lost-1", stalled, http.StatusTeapot, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := store.ReleaseKey(ctx, buyer.ID, "lost-1", stalled); err != nil {
		t.Fatal(err)
	}
	if held, err := store.RenewKey(ctx, buyer.ID, "lost-1", retry, apiLease); err != nil || !held {
		t.Fatalf("the new holder lost its key to the stalled one's answer or release (held %v, err %v)", held, err)
	}

	// Both run the checkout; the key makes one order only.
	claims := auth.Claims{UserID: buyer.ID, Roles: []string{auth.RoleBuyer}}
	req := orders.CheckoutRequest{IdempotencyKey: "lost-1", Items: []orders.Item{{ProductID: p.ID, Quantity: 1}}, ShippingAddress: theAddress}
	if _, err := e.Orders.Service.Checkout(ctx, claims, req); err != nil {
		t.Fatalf("the holder's checkout: %v", err)
	}
	_, err := e.Orders.Service.Checkout(ctx, claims, req)
	if ee, ok := errs.As(err); !ok || ee.Code != "idempotency_key_in_use" {
		t.Fatalf("the stalled holder's checkout: %v, want idempotency_key_in_use", err)
	}
	if st := e.stock(t, p.ID); st.Reserved != 1 {
		t.Errorf("%d units reserved, want 1", st.Reserved)
	}
}

func TestBadOrderIDsOnAPaymentAreRefusedBeforeTheKeyIsClaimed(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	buyer := e.buyer(t)
	pool, err := pgxpool.New(t.Context(), e.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tests := []struct {
		name, id string
		status   int
		code     string
	}{
		{name: "a NUL", id: "%00", status: http.StatusBadRequest, code: "invalid_path"},
		{name: "bytes that are not UTF-8", id: "%ff", status: http.StatusBadRequest, code: "invalid_path"},
		{name: "5000 characters", id: strings.Repeat("a", 5000), status: http.StatusBadRequest, code: "invalid_path"},
		{name: "a word", id: "not-an-id", status: http.StatusNotFound, code: "order_not_found"},
		{name: "an upper-case UUID", id: strings.ToUpper(uuid.NewString()), status: http.StatusNotFound, code: "order_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Do(t, buyer, "POST", "/v1/orders/"+tt.id+"/payment", map[string]any{"payment_method": "pm_card_visa"},
				"Idempotency-Key", "pay-"+tt.name).WantProblem(t, tt.status, tt.code)
		})
	}
	var keys int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM idempotency_keys`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 0 {
		t.Errorf("%d idempotency keys stored for refused requests, want 0", keys)
	}
}

// slowGateway holds every charge until released, so a payment outlives
// its key's first lease.
type slowGateway struct {
	*payment.Simulated
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (g *slowGateway) Charge(ctx context.Context, req orders.ChargeRequest) (orders.Charge, error) {
	if g.calls.Add(1) == 1 {
		close(g.entered)
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return orders.Charge{}, ctx.Err()
	}
	return g.Simulated.Charge(ctx, req)
}

func TestAHolderThatOutlivesItsFirstLeaseKeepsItsKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gw := &slowGateway{Simulated: payment.NewSimulated(payment.SimulatedConfig{Seed: 1}),
		entered: make(chan struct{}), release: make(chan struct{})}
	cfg := w.cfg
	cfg.ChargeTimeout = 30 * time.Second
	cfg.ResolveGrace = time.Minute // the sweeper leaves the running payment alone
	e := w.startWith(t, cfg, gw)
	seller, buyer := e.seller(t), e.buyer(t)
	o := e.mustCheckout(t, buyer, item(e.product(t, seller, 900, "EUR", 5), 1))
	pay := map[string]any{"payment_method": "pm_card_visa"}
	path := "/v1/orders/" + o.ID + "/payment"

	started := time.Now()
	first := make(chan httpxtest.Response, 1)
	go func() {
		r, err := e.Request(buyer, "POST", path, pay, "Idempotency-Key", "slow-1")
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	<-gw.entered
	// Let the first lease run out: only renewals keep the key now.
	time.Sleep(time.Until(started.Add(apiLease + time.Second)))
	retried := make(chan httpxtest.Response, 1)
	go func() {
		r, err := e.Request(buyer, "POST", path, pay, "Idempotency-Key", "slow-1")
		if err != nil {
			t.Error(err)
		}
		retried <- r
	}()
	close(gw.release)

	var a, b orderBody
	(<-first).Want(t, http.StatusOK).Decode(t, &a)
	r := (<-retried).Want(t, http.StatusOK)
	r.Decode(t, &b)
	if r.Header.Get("Idempotent-Replayed") != "true" || a.ID != b.ID || b.Status != a.Status {
		t.Errorf("the retry got %+v (replayed %q), want the first answer %+v", b, r.Header.Get("Idempotent-Replayed"), a)
	}
	if n := len(gw.Charges()); n != 1 {
		t.Errorf("%d charges made, want 1", n)
	}
}
