package ordersrv_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// lostAnswers charges through the provider, then loses the provider's
// answer for the first n charges, as a timeout or a crash would: the money
// is taken, and the service does not know it.
type lostAnswers struct {
	*payment.Simulated
	n       atomic.Int32
	calls   atomic.Int32 // every Charge, repeats under one key included
	charged chan struct{}
	hang    bool
}

func (g *lostAnswers) Charge(ctx context.Context, req orders.ChargeRequest) (orders.Charge, error) {
	g.calls.Add(1)
	ch, err := g.Simulated.Charge(ctx, req)
	if err != nil || g.n.Add(-1) < 0 {
		return ch, err
	}
	if g.charged != nil {
		g.charged <- struct{}{}
	}
	if g.hang {
		<-ctx.Done() // the process is going away with the answer unrecorded
		return orders.Charge{}, ctx.Err()
	}
	return orders.Charge{}, errors.New("read tcp: i/o timeout")
}

// waitStatus polls an order until it reaches status.
func (e *testEnv) waitStatus(t *testing.T, c caller, id string, status orders.Status) orderBody {
	t.Helper()
	var o orderBody
	eventually.NoError(t, fmt.Sprintf("order %s %s", id, status), func() error {
		if o = e.mustOrder(t, c, id); o.Status != status {
			return fmt.Errorf("it is %s", o.Status)
		}
		return nil
	})
	return o
}

func TestAChargeWhoseAnswerWasLostIsResolvedWithoutChargingAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gw := &lostAnswers{Simulated: payment.NewSimulated(payment.SimulatedConfig{Seed: 2})}
	gw.n.Store(1)
	e := w.start(t, gw)
	seller, buyer := w.seller(t), w.buyer(t)
	p := e.product(t, seller, 900, "EUR", 5)
	o := e.mustCheckout(t, buyer, item(p, 2))

	var pending orderBody
	pay := map[string]any{"payment_method": "pm_card_visa"}
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/payment", pay, "Idempotency-Key", "pay-once").
		Want(t, http.StatusAccepted).Decode(t, &pending)
	if pending.Status != orders.PendingPayment || pending.Payment.Status != orders.PaymentProcessing {
		t.Fatalf("after a lost answer: %s with payment %+v, want pending and processing", pending.Status, pending.Payment)
	}
	// Cancelling now could refund nothing or leave money taken: refused.
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/cancel", nil).WantProblem(t, http.StatusConflict, "payment_in_progress")

	paid := e.waitStatus(t, buyer, o.ID, orders.Paid)
	// A 202 is not a final answer: the client's retry under its key learns
	// the outcome instead of the stale "pending".
	var retried orderBody
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/payment", pay, "Idempotency-Key", "pay-once").Want(t, http.StatusOK).Decode(t, &retried)
	if retried.Status != orders.Paid {
		t.Errorf("a retry after the outcome answers %s", retried.Status)
	}
	if gw.ChargeCount() != 1 {
		t.Errorf("%d charges, want 1", gw.ChargeCount())
	}
	if paid.Payment.Status != orders.PaymentSucceeded {
		t.Errorf("payment %+v", paid.Payment)
	}
	if st := e.stock(t, p.ID); st.OnHand != 3 || st.Reserved != 0 {
		t.Errorf("stock %+v, want 3 on hand", st)
	}
}

func TestAnInstanceKilledAfterChargingLeavesAnOrderThatAnotherInstancePays(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	provider := payment.NewSimulated(payment.SimulatedConfig{Seed: 3})
	dying := &lostAnswers{Simulated: provider, charged: make(chan struct{}, 1), hang: true}
	dying.n.Store(1)
	a := w.start(t, dying)
	seller, buyer := w.seller(t), w.buyer(t)
	p := a.product(t, seller, 700, "EUR", 10)
	o := a.mustCheckout(t, buyer, item(p, 4))

	go func() {
		// The client sees its connection drop; what it gets does not matter.
		_, _ = a.Request(buyer, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"})
	}()
	<-dying.charged
	a.Stop() // with the charge made and not recorded

	pool, err := pgxpool.New(context.Background(), w.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st, err := testStore(t, pool).Order(context.Background(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != orders.PendingPayment || st.Payment == nil || st.Payment.Status != orders.PaymentProcessing {
		t.Fatalf("after the crash: %s, payment %+v; want pending with the payment processing", st.Status, st.Payment)
	}

	// A new instance, talking to the same provider, resolves it.
	b := w.start(t, provider)
	b.waitStatus(t, buyer, o.ID, orders.Paid)
	if n := provider.ChargeCount(); n != 1 {
		t.Errorf("%d charges, want 1", n)
	}
	// Stock is conserved: what was on hand is what is left plus what the
	// paid order took.
	if s := b.stock(t, p.ID); s.OnHand != 10-4 || s.Reserved != 0 {
		t.Errorf("stock %+v, want 6 on hand, none reserved", s)
	}
}

func TestACheckoutWhoseTransactionAbortsLeavesNoTrace(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 500, "EUR", 5)
	e.Do(t, buyer, "PUT", "/v1/cart/items/"+p.ID, map[string]any{"quantity": 2}).Want(t, http.StatusOK)

	// The last write of the checkout transaction fails, after the stock was
	// reserved and the order written.
	conn, err := pgx.Connect(context.Background(), e.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, sql := range []string{
		`CREATE FUNCTION doomed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
		`CREATE TRIGGER doomed BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION doomed()`,
	} {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	e.Do(t, buyer, "POST", "/v1/orders", checkoutBody()).Want(t, http.StatusInternalServerError)
	if _, err := conn.Exec(context.Background(), `DROP TRIGGER doomed ON outbox`); err != nil {
		t.Fatal(err)
	}

	if st := e.stock(t, p.ID); st.Reserved != 0 || st.OnHand != 5 {
		t.Errorf("stock %+v after an aborted checkout, want it untouched", st)
	}
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_lines) + (SELECT count(*) FROM order_history)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d order rows after an aborted checkout (%v), want none", n, err)
	}
	var cart orders.Cart
	e.Do(t, buyer, "GET", "/v1/cart", nil).Want(t, http.StatusOK).Decode(t, &cart)
	if len(cart.Lines) != 1 {
		t.Errorf("the cart has %d lines after an aborted checkout, want it kept", len(cart.Lines))
	}
	// And the same checkout works once the fault is gone.
	e.Do(t, buyer, "POST", "/v1/orders", checkoutBody()).Want(t, http.StatusCreated)
}

func TestUnpaidOrdersExpireOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := w.cfg
	cfg.ReservationTTL = 500 * time.Millisecond
	gw := payment.NewSimulated(payment.SimulatedConfig{})
	a, b := w.startWith(t, cfg, gw), w.startWith(t, cfg, gw)
	seller, buyer := w.seller(t), w.buyer(t)
	p := a.product(t, seller, 300, "EUR", 40)
	var ids []string
	for range 20 {
		ids = append(ids, a.mustCheckout(t, buyer, item(p, 2)).ID)
	}
	for _, id := range ids {
		o := b.waitStatus(t, buyer, id, orders.Cancelled)
		n := 0
		for _, h := range o.History {
			if h.SubOrderID == "" && h.To == orders.Cancelled {
				n++
				if h.Reason != "reservation expired" || h.Actor != orders.ActorSystem {
					t.Errorf("cancellation %+v", h)
				}
			}
		}
		if n != 1 {
			t.Errorf("order %s was cancelled %d times", id, n)
		}
	}
	if st := a.stock(t, p.ID); st.Reserved != 0 || st.OnHand != 40 {
		t.Errorf("stock %+v after every reservation expired, want all back", st)
	}
	a.Do(t, buyer, "POST", "/v1/orders/"+ids[0]+"/payment", map[string]any{"payment_method": "pm_card_visa"}).
		WantProblem(t, http.StatusConflict, "illegal_transition")
	if gw.ChargeCount() != 0 {
		t.Errorf("%d charges for expired orders", gw.ChargeCount())
	}
}

func TestCancellingAPaidOrderRefundsItOnceAndRestocks(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 2500, "USD", 4)
	o := e.mustCheckout(t, buyer, item(p, 3))
	e.mustPay(t, buyer, o.ID, "pm_card_visa")
	var c orderBody
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/cancel", map[string]any{"reason": "changed my mind"}).Want(t, http.StatusOK).Decode(t, &c)
	if c.Status != orders.Cancelled || c.Payment.RefundStatus != orders.RefundRefunded {
		t.Fatalf("after cancelling: %s, payment %+v", c.Status, c.Payment)
	}
	for _, s := range c.SubOrders {
		if s.Status != orders.Cancelled {
			t.Errorf("sub-order %s is %s", s.ID, s.Status)
		}
	}
	if st := e.stock(t, p.ID); st.OnHand != 4 || st.Reserved != 0 {
		t.Errorf("stock %+v, want the 3 units back on hand", st)
	}
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/cancel", nil).WantProblem(t, http.StatusConflict, "illegal_transition")
	if len(gw.Refunds()) != 1 || gw.ChargeCount() != 1 {
		t.Errorf("%d refunds and %d charges, want one of each", len(gw.Refunds()), gw.ChargeCount())
	}
}

// slowAnswer charges at once, then holds its answer until released and
// loses it, as a provider whose response outlives the charge timeout.
type slowAnswer struct {
	*payment.Simulated
	charged chan struct{}
	release chan struct{}
}

func (g *slowAnswer) Charge(ctx context.Context, req orders.ChargeRequest) (orders.Charge, error) {
	if _, err := g.Simulated.Charge(ctx, req); err != nil {
		return orders.Charge{}, err
	}
	g.charged <- struct{}{}
	<-g.release
	return orders.Charge{}, errors.New("context deadline exceeded")
}

func TestALateTimeoutDoesNotUndoAnOutcomeTheWebhookRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gw := &slowAnswer{Simulated: payment.NewSimulated(payment.SimulatedConfig{}), charged: make(chan struct{}), release: make(chan struct{})}
	e := w.start(t, gw)
	seller, buyer := w.seller(t), w.buyer(t)
	p := e.product(t, seller, 1000, "EUR", 5)
	o := e.mustCheckout(t, buyer, item(p, 1))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.Request(buyer, "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"})
	}()
	<-gw.charged
	// The provider's webhook reports the charge while the request still waits.
	if err := e.Orders.Service.RecordPaymentNotice(context.Background(),
		orders.PaymentNotice{OrderID: o.ID, ChargeID: "ch_webhook", Status: orders.ChargeSucceeded}); err != nil {
		t.Fatal(err)
	}
	close(gw.release)
	<-done
	// The resolver, run now with no grace, finds nothing to resolve: the
	// late timeout left the recorded outcome alone.
	if n, err := e.Orders.Service.ResolvePayments(context.Background(), 0, 100); n != 0 || err != nil {
		t.Errorf("ResolvePayments = %d, %v; want nothing to resolve", n, err)
	}
	got := e.mustOrder(t, buyer, o.ID)
	if got.Status != orders.Paid || got.Payment.Status != orders.PaymentSucceeded || got.Payment.RefundStatus != "" {
		t.Errorf("order %s, payment %+v: the late timeout undid the recorded outcome", got.Status, got.Payment)
	}
	if len(gw.Refunds()) != 0 || gw.ChargeCount() != 1 {
		t.Errorf("%d refunds and %d charges, want none and one", len(gw.Refunds()), gw.ChargeCount())
	}
}

func TestAChargeWhoseKeyTheProviderNoLongerKeepsIsNotAskedForAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gw := &lostAnswers{Simulated: payment.NewSimulated(payment.SimulatedConfig{Seed: 5})}
	gw.n.Store(1)
	cfg := w.cfg
	cfg.ResolveGrace = time.Hour // the resolver leaves the charge to this test
	e := w.startWith(t, cfg, gw)
	seller, buyer := w.seller(t), w.buyer(t)
	p := e.product(t, seller, 900, "EUR", 5)
	o := e.mustCheckout(t, buyer, item(p, 1))
	pay := map[string]any{"payment_method": "pm_card_visa"}
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/payment", pay).Want(t, http.StatusAccepted)

	// A day later, the provider has forgotten the charge's key: asked
	// again, it would charge again.
	if _, err := w.db.Exec(t.Context(), `UPDATE payments SET created_at = now() - interval '25 hours' WHERE order_id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	e.Do(t, buyer, "POST", "/v1/orders/"+o.ID+"/payment", pay).WantProblem(t, http.StatusConflict, "payment_unresolved")
	if n := gw.calls.Load(); n != 1 {
		t.Errorf("the provider was asked %d times, want once", n)
	}
	if got := e.mustOrder(t, buyer, o.ID); got.Status != orders.PendingPayment || got.Payment.Status != orders.PaymentProcessing {
		t.Errorf("the order is %s with payment %+v, want it left pending for reconciliation", got.Status, got.Payment)
	}
}

func TestAnOrderThatCannotBeExpiredDoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 300, "EUR", 10)
	broken, fine := e.mustCheckout(t, buyer, item(p, 1)), e.mustCheckout(t, buyer, item(p, 2))
	// The broken order cannot be read (its address sealed under a key the
	// service no longer has), and it is the first the sweep finds.
	ctx := t.Context()
	if _, err := e.db.Exec(ctx, `UPDATE orders SET shipping_address_sealed = 'v1.gone', reserved_until = now() - interval '2 minutes'
		WHERE id = $1`, broken.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `UPDATE orders SET reserved_until = now() - interval '1 minute' WHERE id = $1`, fine.ID); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, buyer, fine.ID, orders.Cancelled)
	if st := e.stock(t, p.ID); st.Reserved != 1 {
		t.Errorf("%d units reserved, want the broken order's 1 only", st.Reserved)
	}
}

func TestASweepNamesTenOrdersThatCannotBeExpiredAndCountsTheRest(t *testing.T) {
	t.Parallel()
	e := startSweptByHand(t)
	seller, buyer := e.seller(t), e.buyer(t)
	broken := e.unexpirableOrders(t, buyer, e.product(t, seller, 300, "EUR", 20), 13)

	_, err := e.Orders.Service.ExpireReservations(t.Context(), 5)
	if err == nil {
		t.Fatal("the sweep reported no error")
	}
	named := 0
	for _, o := range broken {
		if strings.Contains(err.Error(), o.ID) {
			named++
		}
	}
	if named != 10 || !strings.Contains(err.Error(), "3 more orders could not be expired") {
		t.Errorf("the sweep's error names %d of 13 broken orders, want 10 and a count of 3 more: %v", named, err)
	}
}

// startSweptByHand starts the service with no sweep of its own to speak
// of: the test's are the only ones.
func startSweptByHand(t *testing.T) *testEnv {
	t.Helper()
	w := newWorld(t)
	cfg := w.cfg
	cfg.SweepInterval = time.Hour
	return w.startWith(t, cfg, payment.NewSimulated(payment.SimulatedConfig{Seed: 1}))
}

// unexpirableOrders places n orders of one unit of p for buyer that the
// sweep cannot expire: their addresses sealed under a key the service no
// longer has, their reservations run out a minute apart, the first oldest.
func (e *testEnv) unexpirableOrders(t *testing.T, buyer caller, p contracts.ProductV1, n int) []orderBody {
	t.Helper()
	var broken []orderBody
	for i := range n {
		o := e.mustCheckout(t, buyer, item(p, 1))
		broken = append(broken, o)
		if _, err := e.db.Exec(t.Context(), `UPDATE orders SET shipping_address_sealed = 'v1.gone',
			reserved_until = now() - make_interval(mins => $2) WHERE id = $1`, o.ID, n+1-i); err != nil {
			t.Fatal(err)
		}
	}
	return broken
}

func TestOrdersThatCannotBeExpiredFillingAPageDoNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	e := startSweptByHand(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 300, "EUR", 10)
	ctx := t.Context()
	// Two broken orders, each a page of one, come before the fine one.
	broken := e.unexpirableOrders(t, buyer, p, 2)
	fine := e.mustCheckout(t, buyer, item(p, 2))
	if _, err := e.db.Exec(ctx, `UPDATE orders SET reserved_until = now() - interval '1 minute' WHERE id = $1`, fine.ID); err != nil {
		t.Fatal(err)
	}

	n, err := e.Orders.Service.ExpireReservations(ctx, 1)
	if n != 1 {
		t.Errorf("%d orders expired, want the fine one", n)
	}
	for _, o := range broken {
		if err == nil || !strings.Contains(err.Error(), o.ID) {
			t.Errorf("the sweep's error %v does not name the broken order %s", err, o.ID)
		}
	}
	if got := e.mustOrder(t, buyer, fine.ID); got.Status != orders.Cancelled {
		t.Errorf("the fine order is %s, want cancelled", got.Status)
	}
	if st := e.stock(t, p.ID); st.Reserved != 2 {
		t.Errorf("%d units reserved, want the broken orders' 2 only", st.Reserved)
	}
}
