package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/orders/payment/stripemocktest"
)

// TestWebCheckoutToATypedAddressPaysThroughStripe drives Chromium through a
// checkout on the platform run with the Stripe payment provider, its API
// being stripe-mock (Stripe's own mock, answering a payment intent as
// succeeded): the buyer types a shipping address other than the profile's,
// pays, and sees the order paid and the address on it; the seller of the
// sub-order sees the address in the seller centre.
func TestWebCheckoutToATypedAddressPaysThroughStripe(t *testing.T) {
	endToEnd(t) // and a browser
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on PATH: run `make tools`")
	}
	stripe, intents := countingStripeMock(t)
	gatewayAddr := freeAddr(t)
	base := "http://" + gatewayAddr
	getenv := testEnv(t, map[string]string{"GATEWAY_ADDR": gatewayAddr, "WEB_API_URL": base, "PUBLIC_URL": base,
		"ORDERS_PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": "sk_test_browser", "STRIPE_API_BASE": stripe})
	if err := run(context.Background(), []string{"seed", "--products=3", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	startServe(t, getenv)
	untilListed(t, base)
	d := newDriver(t, chromium, base)

	tag := uuid.NewString()[:6]
	seller, buyer := d.person(t), d.person(t)
	seller.signUp(t, "Stripe Seller", "stripe-seller-"+tag+"@example.com")
	buyer.signUp(t, "Stripe Buyer", "stripe-buyer-"+tag+"@example.com")
	productID := seller.sellsALamp(t, "Meridian Lamp "+tag)

	street := "Zaunkönigweg " + tag
	buyer.do(t, "put the lamp in the cart",
		chromedp.Navigate(base+"/products/"+productID),
		press(chromedp.CSS(`form.buy button`)),
		chromedp.WaitVisible(chromedp.CSS(`table.cart`)))
	buyer.do(t, "check out to a typed address and pay by card",
		chromedp.Navigate(base+"/checkout"),
		chromedp.WaitVisible(chromedp.CSS(`form.checkout`)),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Stripe Buyer"),
		chromedp.SendKeys(chromedp.CSS(`#line1`), street),
		chromedp.SendKeys(chromedp.CSS(`#city`), "Leipzig"),
		chromedp.SendKeys(chromedp.CSS(`#postal_code`), "04109"),
		chromedp.SendKeys(chromedp.CSS(`#country`), "DE"),
		press(chromedp.CSS(`input[value=pm_card_visa]`)),
		press(chromedp.CSS(`form.checkout button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`ol.timeline`)))
	if s := buyer.text(t, `strong.status`); s != "paid" {
		t.Errorf("the order is %q, want paid", s)
	}
	if got := buyer.text(t, `address.ship-to`); !strings.Contains(got, street) || !strings.Contains(got, "04109 Leipzig") {
		t.Errorf("the order shows the address %q, want the one typed", got)
	}
	if n := intents.Load(); n == 0 {
		t.Error("the payment did not go to Stripe: stripe-mock saw no payment intent")
	}
	seller.do(t, "see where to send the parcel",
		chromedp.Navigate(base+"/seller/orders"),
		chromedp.WaitVisible(chromedp.CSS(`form.ship-form`)))
	if got := seller.text(t, `li.suborder address.ship-to`); !strings.Contains(got, street) || !strings.Contains(got, "Stripe Buyer") {
		t.Errorf("the seller's sub-order shows the address %q, want the buyer's typed one", got)
	}
	d.checkScripts(t)
}

// sellsALamp opens a shop and puts a lamp with stock on sale, and returns
// its id.
func (p *person) sellsALamp(t *testing.T, title string) string {
	t.Helper()
	base := p.d.base
	p.do(t, "open a shop",
		chromedp.Navigate(base+"/seller"),
		chromedp.SendKeys(chromedp.CSS(`#shop_name`), "Shop of "+title),
		press(chromedp.CSS(`form[action="/seller/shop"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/seller/products/new"]`)))
	p.do(t, "create the product",
		chromedp.Navigate(base+"/seller/products/new?category=lamps"),
		chromedp.WaitVisible(chromedp.CSS(`#title`)),
		chromedp.SendKeys(chromedp.CSS(`#title`), title),
		chromedp.SendKeys(chromedp.CSS(`#price`), "39.90"),
		press(chromedp.CSS(`form.product-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.stock-form`)))
	id := strings.TrimPrefix(strings.SplitN(p.location(t), "?", 2)[0], base+"/seller/products/")
	p.do(t, "set its stock and publish it",
		chromedp.SetValue(chromedp.CSS(`#on_hand`), "2"),
		press(chromedp.CSS(`form.stock-form button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "stock is set")]`)),
		press(chromedp.CSS(`form[action$="/publish"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "on sale")]`)))
	return id
}

// countingStripeMock starts stripe-mock answering payment intents as
// succeeded, behind a proxy that counts the payment intents created, so a
// test can tell the charge went to Stripe's API.
func countingStripeMock(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	mock := stripemocktest.StartStripeMock(t, stripemocktest.WithFixture("payment_intent", map[string]any{
		"status": "succeeded", "last_payment_error": nil,
	}))
	target, err := url.Parse(mock)
	if err != nil {
		t.Fatal(err)
	}
	intents := &atomic.Int64{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/payment_intents") {
			intents.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, intents
}
