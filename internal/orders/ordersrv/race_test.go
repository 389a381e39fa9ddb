package ordersrv_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

func TestTwoHundredBuyersCannotOversellFiftyUnits(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a long race; TestBuyersRacingForSeveralProductsNeverDriveStockNegative is the short one")
	}
	e, gw := newEnv(t)
	seller := e.seller(t)
	p := e.product(t, seller, 1500, "EUR", 50)
	buyers := make([]caller, 200)
	for i := range buyers {
		buyers[i] = e.buyer(t)
	}
	rs := httpxtest.Race(t, len(buyers), func(i int) (httpxtest.Response, error) {
		return retryUnavailable(func() (httpxtest.Response, error) {
			return e.Request(buyers[i], "POST", "/v1/orders", checkoutBody(item(p, 1)), "Idempotency-Key", fmt.Sprint("rush-", i))
		})
	})
	got := httpxtest.Statuses(rs)
	if got[http.StatusCreated] != 50 || got[http.StatusConflict] != 150 || len(got) != 2 {
		t.Fatalf("answers %v (problems %v), want 50 created and 150 conflicts", got, problems(rs))
	}
	for _, r := range rs {
		if r.Status == http.StatusConflict && r.Problem() != "insufficient_stock" {
			t.Fatalf("conflict %s, want insufficient_stock", r.Body)
		}
	}
	if st := e.stock(t, p.ID); st.OnHand != 50 || st.Reserved != 50 || st.Available != 0 {
		t.Fatalf("stock %+v after the rush, want 50 on hand, all reserved", st)
	}

	// Everyone who got an order pays at once.
	rs = httpxtest.Race(t, len(buyers), func(i int) (httpxtest.Response, error) {
		if rs[i].Status != http.StatusCreated {
			return httpxtest.Response{Status: http.StatusOK}, nil
		}
		var o orderBody
		rs[i].Decode(t, &o)
		return retryUnavailable(func() (httpxtest.Response, error) {
			return e.Request(buyers[i], "POST", "/v1/orders/"+o.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"},
				"Idempotency-Key", fmt.Sprint("pay-", i))
		})
	})
	if got := httpxtest.Statuses(rs); got[http.StatusOK] != 200 {
		t.Fatalf("payment answers %v (problems %v)", got, problems(rs))
	}
	if st := e.stock(t, p.ID); st.OnHand != 0 || st.Reserved != 0 {
		t.Errorf("stock %+v after 50 paid orders, want none left and none reserved", st)
	}
	if gw.ChargeCount() != 50 {
		t.Errorf("%d charges, want 50", gw.ChargeCount())
	}
}

func TestBuyersRacingForSeveralProductsNeverDriveStockNegative(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller := e.seller(t)
	a, b := e.product(t, seller, 100, "EUR", 30), e.product(t, seller, 200, "EUR", 30)
	buyer := e.buyer(t)
	// Orders take the two products in both orders and in several amounts,
	// which would deadlock if rows were locked in request order.
	rs := httpxtest.Race(t, 100, func(i int) (httpxtest.Response, error) {
		items := []map[string]any{item(a, 1+i%3), item(b, 1+(i+1)%3)}
		if i%2 == 1 {
			items[0], items[1] = items[1], items[0]
		}
		return e.Request(buyer, "POST", "/v1/orders", checkoutBody(items...))
	})
	var soldA, soldB int64
	for _, r := range rs {
		switch r.Status {
		case http.StatusCreated:
			var o orderBody
			r.Decode(t, &o)
			for _, l := range o.SubOrders[0].Lines {
				if l.ProductID == a.ID {
					soldA += int64(l.Quantity)
				} else {
					soldB += int64(l.Quantity)
				}
			}
		case http.StatusConflict:
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	for _, c := range []struct {
		p    string
		sold int64
	}{{a.ID, soldA}, {b.ID, soldB}} {
		st := e.stock(t, c.p)
		if st.Reserved != c.sold || st.Reserved > st.OnHand || st.OnHand != 30 {
			t.Errorf("product %s: stock %+v, orders hold %d", c.p, st, c.sold)
		}
	}
}

func TestFiftyRetriesOfOneCheckoutMakeOneOrderAndOneCharge(t *testing.T) {
	t.Parallel()
	e, gw := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 4200, "EUR", 100)
	body := checkoutBody(item(p, 2))

	rs := httpxtest.Race(t, 50, func(int) (httpxtest.Response, error) {
		return e.Request(buyer, "POST", "/v1/orders", body, "Idempotency-Key", "checkout-1")
	})
	ids := map[string]bool{}
	for _, r := range rs {
		var o orderBody
		r.Want(t, http.StatusCreated).Decode(t, &o)
		ids[o.ID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("%d different orders from one key", len(ids))
	}
	list, err := e.Orders.Store.Orders(t.Context(), orders.OrderFilter{UserID: buyer.ID, Limit: 100})
	if err != nil || len(list) != 1 {
		t.Fatalf("%d orders stored (%v), want 1", len(list), err)
	}
	if st := e.stock(t, p.ID); st.Reserved != 2 {
		t.Errorf("%d units reserved, want 2", st.Reserved)
	}
	var orderID string
	for id := range ids {
		orderID = id
	}

	// Fifty payments with one key, and fifty more with keys of their own or
	// none: the order is charged once.
	rs = httpxtest.Race(t, 100, func(i int) (httpxtest.Response, error) {
		var h []string
		switch {
		case i < 50:
			h = []string{"Idempotency-Key", "pay-1"}
		case i < 75:
			h = []string{"Idempotency-Key", "pay-other-" + string(rune('a'+i-50))}
		}
		return e.Request(buyer, "POST", "/v1/orders/"+orderID+"/payment", map[string]any{"payment_method": "pm_card_visa"}, h...)
	})
	for _, r := range rs {
		var o orderBody
		r.Want(t, http.StatusOK).Decode(t, &o)
		if o.Status != orders.Paid {
			t.Fatalf("a payment answered with status %s", o.Status)
		}
	}
	if n := gw.ChargeCount(); n != 1 {
		t.Fatalf("%d charges, want 1", n)
	}

	// The same key with another body is refused, and a later retry gets the
	// stored answer.
	e.Do(t, buyer, "POST", "/v1/orders", checkoutBody(item(p, 3)), "Idempotency-Key", "checkout-1").
		WantProblem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	r := e.Do(t, buyer, "POST", "/v1/orders", body, "Idempotency-Key", "checkout-1").Want(t, http.StatusCreated)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("a retry after completion was not marked as replayed")
	}
	// Keys belong to their user: another buyer's identical key is theirs.
	other := e.buyer(t)
	var o orderBody
	e.Do(t, other, "POST", "/v1/orders", body, "Idempotency-Key", "checkout-1").Want(t, http.StatusCreated).Decode(t, &o)
	if ids[o.ID] {
		t.Error("another buyer's request with the same key got the first buyer's order")
	}
}

func TestACheckoutUnderAFreshKeyIsRecordedByItsOrderAndReplayedAsSent(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p, scarce := e.product(t, seller, 1500, "EUR", 10), e.product(t, seller, 900, "EUR", 1)
	send := func(key string, items ...map[string]any) httpxtest.Response {
		t.Helper()
		return e.Do(t, buyer, "POST", "/v1/orders", checkoutBody(items...), "Idempotency-Key", key)
	}

	first := send("fresh-1", item(p, 2)).Want(t, http.StatusCreated)
	var o orderBody
	first.Decode(t, &o)
	// Nobody claimed the key (no holder): the order's transaction wrote it,
	// answered.
	if n := e.queryInt(t, `SELECT count(*) FROM idempotency_keys WHERE user_id = $1 AND key = 'fresh-1'
		AND holder IS NULL AND status = 201 AND resource_id = $2`, buyer.ID, o.ID); n != 1 {
		t.Fatalf("%d keys recorded by order %s, want 1", n, o.ID)
	}
	retry := send("fresh-1", item(p, 2)).Want(t, http.StatusCreated)
	if retry.Header.Get("Idempotent-Replayed") != "true" || string(retry.Body) != string(first.Body) {
		t.Errorf("the retry's answer (replayed %q) %s\nwant the first one, replayed: %s",
			retry.Header.Get("Idempotent-Replayed"), retry.Body, first.Body)
	}
	if got, want := retry.Header.Get("Location"), first.Header.Get("Location"); got != want || want == "" {
		t.Errorf("the retry's Location %q, want the first answer's %q", got, want)
	}

	// The key with a body refused for its form is a reused key, as before.
	e.Do(t, buyer, "POST", "/v1/orders", `{"items": 5}`, "Idempotency-Key", "fresh-1").
		WantProblem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")

	// A refusal is kept too: once the stock is there, its retry is still
	// refused, and buys nothing.
	send("short-1", item(scarce, 2)).WantProblem(t, http.StatusConflict, "insufficient_stock")
	e.Do(t, seller, "PUT", "/v1/stock/"+scarce.ID, map[string]any{"on_hand": 5}).Want(t, http.StatusOK)
	r := send("short-1", item(scarce, 2))
	r.WantProblem(t, http.StatusConflict, "insufficient_stock")
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("the refusal's retry ran again instead of being replayed")
	}
	if st := e.stock(t, scarce.ID); st.Reserved != 0 {
		t.Errorf("%d units reserved by a replayed refusal", st.Reserved)
	}
	if st := e.stock(t, p.ID); st.Reserved != 2 {
		t.Errorf("%d units reserved, want the one order's 2", st.Reserved)
	}
}

// retryUnavailable sends a request as a client told to retry does: a 503
// (a request shed under load, or a dependency that did not answer in time
// on a busy machine) changes nothing, and is sent again with the same
// Idempotency-Key after a pause, up to ten times.
func retryUnavailable(send func() (httpxtest.Response, error)) (httpxtest.Response, error) {
	for attempt := 1; ; attempt++ {
		r, err := send()
		if err != nil || r.Status != http.StatusServiceUnavailable || attempt == 10 {
			return r, err
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
}

// problems counts the problem codes of the answers that carry one.
func problems(rs []httpxtest.Response) map[string]int {
	codes := map[string]int{}
	for _, r := range rs {
		if code := r.Problem(); code != "" {
			codes[code]++
		}
	}
	return codes
}
