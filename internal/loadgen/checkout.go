package loadgen

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Checkout operations, in the order of a flow.
const (
	opAddToCart  = "add-to-cart"
	opPlaceOrder = "place-order"
	opPay        = "pay"
	opViewCart   = "view-cart"
)

// checkout is a buyer's journey to a paid order: put one of the loadgen's
// stocked products in the cart, check the cart out (with an
// Idempotency-Key), pay. Each step goes out on a later tick of the pacer,
// once the answer to the previous one is in, so the rate stays open loop.
// A buyer does one journey at a time, since checkout buys the whole cart.
type checkout struct {
	req   *req
	f     *fixture
	flows *atomic.Uint64
	all   []*account

	mu    sync.Mutex
	idle  []*account
	busy  map[uint64]*journey
	ready []step // next steps whose previous answer is in, oldest first
}

type journey struct {
	buyer *account
	order string
}

type step struct {
	flow uint64
	op   string
}

func newCheckout(r *req, f *fixture, buyers []*account, flows *atomic.Uint64) *checkout {
	return &checkout{req: r, f: f, flows: flows, all: buyers, idle: append([]*account(nil), buyers...), busy: map[uint64]*journey{}}
}

// next goes on with a journey whose answer is in, or starts one. When
// every buyer is mid-journey it still sends a request, a look at a cart,
// because skipping the tick would close the loop.
func (c *checkout) next(tgt *vegeta.Target) {
	c.mu.Lock()
	var s step
	var j *journey
	switch {
	case len(c.ready) > 0:
		s = c.ready[0]
		c.ready = c.ready[1:]
		j = c.busy[s.flow]
	case len(c.idle) > 0:
		j = &journey{buyer: c.idle[len(c.idle)-1]}
		c.idle = c.idle[:len(c.idle)-1]
		s = step{flow: c.flows.Add(1), op: opAddToCart}
		c.busy[s.flow] = j
	}
	c.mu.Unlock()
	if j == nil {
		b := c.all[c.req.intn(len(c.all))]
		c.req.fill(tgt, tag{Scenario: Checkout, Op: opViewCart}, "GET", "/v1/cart", b.token(), nil)
		return
	}
	c.fill(tgt, s, j)
}

// address is a buyer's shipping address, as POST /v1/orders takes it.
type address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// orderItem is a line of POST /v1/orders' body.
type orderItem struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// orderBody is the body of POST /v1/orders: the cart checked out to the
// address, or with items, those items bought without the cart.
func orderBody(to address, items ...orderItem) []byte {
	b, _ := json.Marshal(struct {
		Items           []orderItem `json:"items,omitempty"`
		ShippingAddress address     `json:"shipping_address"`
	}{items, to})
	return b
}

// buyerAddress is buyer i's plausible shipping address (a real postal
// code of the city, in its country), as a real client sends one: an
// address is required (ADR 0041), and sealing it is part of what an order
// costs. Neighbouring buyers live in different countries.
func buyerAddress(i int) address {
	cities := []struct{ city, postalCode, country string }{
		{"Berlin", "10115", "DE"}, {"Paris", "75002", "FR"}, {"Madrid", "28013", "ES"}, {"Amsterdam", "1012 JS", "NL"},
		{"Milano", "20121", "IT"}, {"Wien", "1010", "AT"}, {"London", "SW1A 2AA", "GB"}, {"Warszawa", "00-001", "PL"},
		{"Lisboa", "1100-148", "PT"}, {"København", "1050", "DK"}, {"Dublin", "D02 X285", "IE"}, {"Praha", "110 00", "CZ"},
	}
	streets := []string{"Hauptstraße", "Rue de Rivoli", "Calle Mayor", "Damrak", "Via Dante", "Kärntner Straße", "Whitehall",
		"Nowy Świat", "Rua Augusta", "Strøget", "Grafton Street", "Národní"}
	to := cities[i%len(cities)]
	return address{
		Name:       fmt.Sprintf("Loadgen Buyer %d", i+1),
		Line1:      fmt.Sprintf("%s %d", streets[(i/len(cities))%len(streets)], 1+i%97),
		City:       to.city,
		PostalCode: to.postalCode,
		Country:    to.country,
	}
}

func (c *checkout) fill(tgt *vegeta.Target, s step, j *journey) {
	t := tag{Scenario: Checkout, Op: s.op, Flow: s.flow}
	key := fmt.Sprintf("loadgen-%s-%d-%s", c.f.RunID, s.flow, s.op)
	switch s.op {
	case opAddToCart:
		p := c.f.Own[c.req.intn(len(c.f.Own))]
		c.req.fill(tgt, t, "PUT", "/v1/cart/items/"+p.ID, j.buyer.token(), []byte(`{"quantity":1}`))
	case opPlaceOrder:
		c.req.fill(tgt, t, "POST", "/v1/orders", j.buyer.token(), j.buyer.placeOrder, "Idempotency-Key", key)
	case opPay:
		c.req.fill(tgt, t, "POST", "/v1/orders/"+j.order+"/payment", j.buyer.token(),
			[]byte(`{"payment_method":"pm_card_visa"}`), "Idempotency-Key", key)
	}
}

// observe queues a journey's next step, or ends it on its last step or on
// a failure (the buyer is free again).
func (c *checkout) observe(t tag, res *vegeta.Result) {
	if t.Op == opViewCart {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	j, found := c.busy[t.Flow]
	if !found {
		return
	}
	next := ""
	switch {
	case !ok(res):
	case t.Op == opAddToCart:
		next = opPlaceOrder
	case t.Op == opPlaceOrder:
		var order struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(res.Body, &order) == nil && order.ID != "" {
			j.order, next = order.ID, opPay
		}
	}
	if next == "" {
		delete(c.busy, t.Flow)
		c.idle = append(c.idle, j.buyer)
		return
	}
	c.ready = append(c.ready, step{flow: t.Flow, op: next})
}
