package ordersrv_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// A checkout prices from the copies of products its instance holds. When
// another instance applies a product's event, this one never hears of it;
// its orders must still be priced as the projection holds the product.
func TestACheckoutPricesAsTheProjectionHoldsTheProductWhateverItsInstanceHeld(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 100, "EUR", 10)
	if o := e.mustCheckout(t, buyer, item(p, 1)); o.Total.Amount != 100 {
		t.Fatalf("first order's total %+v, want 100", o.Total)
	}
	steps := []struct {
		name        string
		change      func(*contracts.ProductV1)
		wantTotal   int64
		wantProblem string
	}{
		{"a new price is charged", func(p *contracts.ProductV1) { p.Price = 250 }, 500, ""},
		{"a product withdrawn is refused", func(p *contracts.ProductV1) { p.Status = "archived" }, 0, "product_unavailable"},
		{"a product back on sale sells at its price", func(p *contracts.ProductV1) { p.Status, p.Price = "active", 300 }, 600, ""},
		{"an edit of its title alone changes its lines' title", func(p *contracts.ProductV1) { p.Title = "Renamed" }, 600, ""},
	}
	for _, st := range steps {
		st.change(&p)
		p.Version++
		e.changeBehind(t, p)
		r := e.checkout(t, buyer, item(p, 2))
		if st.wantProblem != "" {
			r.WantProblem(t, http.StatusUnprocessableEntity, st.wantProblem)
			continue
		}
		var o orderBody
		r.Want(t, http.StatusCreated).Decode(t, &o)
		if o.Total.Amount != st.wantTotal || o.SubOrders[0].Lines[0].Title != p.Title {
			t.Errorf("%s: total %+v, line %+v; want %d for %q", st.name, o.Total, o.SubOrders[0].Lines[0], st.wantTotal, p.Title)
		}
	}
	if got := e.stock(t, p.ID); got.Reserved != 1+2+2+2 {
		t.Errorf("%d units reserved, want 7: a refused order reserved some, or a repriced one twice", got.Reserved)
	}
}

// Forty buyers check out one product while its price changes twenty times
// behind the instance. Each order reserves its unit once, however often it
// was priced, and is priced at a price the product had.
func TestCheckoutsRacingPriceChangesAreEachPricedAtAPriceTheProductHad(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller := e.seller(t)
	p := e.product(t, seller, 100, "EUR", 1000)
	buyers := make([]caller, 40)
	for i := range buyers {
		buyers[i] = e.buyer(t)
	}
	e.mustCheckout(t, buyers[0], item(p, 1)) // the instance holds version 1
	var changes sync.WaitGroup
	changes.Go(func() {
		for v := int64(2); v <= 21; v++ {
			if !e.reprice(t, p, v, 100*v) {
				return
			}
		}
	})
	rs := httpxtest.Race(t, len(buyers), func(i int) (httpxtest.Response, error) {
		return e.Request(buyers[i], "POST", "/v1/orders", checkoutBody(item(p, 1)))
	})
	changes.Wait()
	placed := 1
	for _, r := range rs {
		if r.Status == http.StatusConflict && r.Problem() == "product_changed" {
			continue // priced three times, each time overtaken: allowed, and nothing reserved
		}
		var o orderBody
		r.Want(t, http.StatusCreated).Decode(t, &o)
		if price := o.Total.Amount; price%100 != 0 || price < 100 || price > 2100 {
			t.Errorf("an order priced at %d, a price the product never had", price)
		}
		placed++
	}
	if got := e.stock(t, p.ID).Reserved; got != int64(placed) {
		t.Errorf("%d units reserved for %d orders", got, placed)
	}
	if o := e.mustCheckout(t, buyers[1], item(p, 1)); o.Total.Amount != 2100 {
		t.Errorf("after the changes an order is priced %d, want the last price, 2100", o.Total.Amount)
	}
}

// A retry of a checkout whose order was made gets that order, even while
// the product is edited again and again behind the instance: the key is
// looked at before the prices.
func TestARetryOfAnOrderMadeGetsItWhileItsProductKeepsChanging(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	seller, buyer := e.seller(t), e.buyer(t)
	p := e.product(t, seller, 100, "EUR", 10)
	body := checkoutBody(item(p, 1))
	var made orderBody
	e.Do(t, buyer, "POST", "/v1/orders", body, "Idempotency-Key", "retried").Want(t, http.StatusCreated).Decode(t, &made)
	stop := make(chan struct{})
	var edits sync.WaitGroup
	edits.Go(func() {
		for v := int64(2); ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			if !e.reprice(t, p, v, 100+v) {
				return
			}
		}
	})
	for range 20 {
		var o orderBody
		e.Do(t, buyer, "POST", "/v1/orders", body, "Idempotency-Key", "retried").Want(t, http.StatusCreated).Decode(t, &o)
		if o.ID != made.ID || o.Total != made.Total {
			t.Errorf("a retry got order %s for %+v, want %s for %+v", o.ID, o.Total, made.ID, made.Total)
		}
	}
	close(stop)
	edits.Wait()
	if got := e.stock(t, p.ID).Reserved; got != 1 {
		t.Errorf("%d units reserved, want 1", got)
	}
}

// changeBehind writes p into the projection as another instance applying
// its event would, leaving this instance's copies as they were.
func (e *testEnv) changeBehind(t testing.TB, p contracts.ProductV1) {
	t.Helper()
	saved, err := e.Orders.Store.SaveProduct(t.Context(), projected(p), "")
	if err != nil || !saved {
		t.Fatalf("SaveProduct = %v, %v", saved, err)
	}
}

// reprice writes p at version and price into the projection behind the
// instance, from any goroutine: a failure is reported with Errorf, and
// reprice returns false.
func (e *testEnv) reprice(t testing.TB, p contracts.ProductV1, version, price int64) bool {
	changed := projected(p)
	changed.Price.Amount, changed.Version = price, version
	if _, err := e.Orders.Store.SaveProduct(t.Context(), changed, ""); err != nil {
		t.Errorf("SaveProduct: %v", err)
		return false
	}
	return true
}

// projected is p as the projection holds it.
func projected(p contracts.ProductV1) orders.Product {
	return orders.Product{ID: p.ID, SellerID: p.SellerID, Title: p.Title,
		Price: orders.Money{Amount: p.Price, Currency: p.Currency}, Status: p.Status, Version: p.Version}
}
