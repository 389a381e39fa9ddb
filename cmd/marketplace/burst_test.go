package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// TestABurstOf300CheckoutsThroughTheGatewayOnFortyUnitsSellsFortyAndRefusesTheRest
// runs the whole platform in one process and releases 300 checkouts of one
// unit each, from 5 buyers, at a product with 40 units, through the
// gateway at once. Exactly 40 must be orders; every other answer must be
// 409 insufficient_stock: not a 503 from an instance the gateway ejected
// under the load, not a 5xx, not a lost request.
func TestABurstOf300CheckoutsThroughTheGatewayOnFortyUnitsSellsFortyAndRefusesTheRest(t *testing.T) {
	endToEnd(t)
	// Serial: 300 checkouts at once keep both cores busy, so it gains
	// nothing beside other tests, and it counts every answer: on a machine
	// shared with other platforms a queued checkout could time out.
	const (
		units     = 40
		buyers    = 5
		perBuyer  = 60
		checkouts = buyers * perBuyer
	)
	began := time.Now()
	getenv := testEnv(t, nil)
	// The demo seed gives a seller with a shop and the category tree; only
	// admins write categories.
	if err := run(context.Background(), []string{"seed", "--products=1", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	edge := httpxtest.Client{BaseURL: "http://" + addrs["gateway"]}

	seller := login(t, edge, sellerEmail(1), seedPassword)
	var product struct {
		ID string `json:"id"`
	}
	edge.Do(t, seller, "POST", "/v1/products", map[string]any{"title": "Burst lamp", "description": "Forty of them, for three hundred buyers.",
		"category": "lamps", "price": map[string]any{"amount": 4500, "currency": "EUR"}, "status": "active"}).
		Want(t, http.StatusCreated).Decode(t, &product)
	edge.Do(t, seller, "PUT", "/v1/stock/"+product.ID, map[string]any{"on_hand": units}).Want(t, http.StatusOK)

	// Checkouts with items leave the cart alone and no limit counts a
	// buyer's orders, so one buyer's concurrent checkouts are independent:
	// each of the 5 buyers sends 60. The buyers sign up one by one, since
	// argon2 under the race detector is slow enough that many at once
	// outlast the gateway's timeout.
	tag := uuid.NewString()[:8]
	accounts := make([]httpxtest.Caller, buyers)
	for i := range accounts {
		accounts[i] = signUp(t, edge, fmt.Sprintf("burst-%s-%d@example.com", tag, i))
	}
	t.Logf("platform up and %d buyers signed in after %s", buyers, time.Since(began))

	start := time.Now()
	answeredAfter := make([]time.Duration, checkouts)
	rs := httpxtest.Race(t, checkouts, func(i int) (httpxtest.Response, error) {
		defer func() { answeredAfter[i] = time.Since(start) }()
		return edge.Request(accounts[i%buyers], "POST", "/v1/orders", orderOf(orderLine(product.ID, 1)),
			"Idempotency-Key", uuid.NewString())
	})

	answers := map[string]int{}
	sold, orders := 0, map[string]bool{}
	unexpected := map[string]int{} // by status, code and detail
	for _, r := range rs {
		answers[strconv.Itoa(r.Status)+" "+r.Problem()]++
		if r.Status != http.StatusCreated {
			if r.Problem() != "insufficient_stock" {
				var p struct{ Detail string }
				_ = json.Unmarshal(r.Body, &p)
				unexpected[fmt.Sprintf("%d %s %q", r.Status, r.Problem(), p.Detail)]++
			}
			continue
		}
		var o e2eOrder
		r.Decode(t, &o)
		orders[o.ID] = true
		for _, s := range o.SubOrders {
			for _, l := range s.Lines {
				sold += l.Quantity
			}
		}
	}
	t.Logf("%d checkouts answered within %s: %v", checkouts, slices.Max(answeredAfter), answers)
	want := map[string]int{"201 ": units, "409 insufficient_stock": checkouts - units}
	if !maps.Equal(answers, want) {
		t.Errorf("answers by status and problem code %v, want %v; the others by detail: %v", answers, want, unexpected)
	}
	if sold != units || len(orders) != answers["201 "] {
		t.Errorf("%d orders sold %d units, want %d distinct orders selling %d", len(orders), sold, answers["201 "], units)
	}

	// The stock is read from the orders service itself: what it holds
	// must be right whatever the gateway answered.
	var stock e2eStock
	shop := httpxtest.Client{BaseURL: "http://" + addrs["orders"]}
	shop.Do(t, seller, "GET", "/v1/stock/"+product.ID, nil).Want(t, http.StatusOK).Decode(t, &stock)
	if want := (e2eStock{product.ID, units, units, 0}); stock != want {
		t.Errorf("stock after the burst %+v, want %+v", stock, want)
	}
}

// signUp registers a buyer and logs in.
func signUp(t *testing.T, api httpxtest.Client, email string) httpxtest.Caller {
	t.Helper()
	api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/register",
		map[string]any{"email": email, "password": e2ePassword, "display_name": "Burst buyer"}).Want(t, http.StatusCreated)
	return login(t, api, email, e2ePassword)
}
