package loadgen

import (
	"fmt"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// buy is a buyer's "buy now": one unit of one of the loadgen's stocked
// products ordered in one request, with the product in the order's items
// (the cart untouched) and an Idempotency-Key, to the buyer's address. It
// measures placing an order alone, the step of checkout that a pgbench
// transaction compares with, without the checkout journey's cart and
// payment requests around it. Buyers need no turns: an order of items
// shares nothing with the buyer's other orders.
type buy struct {
	req    *req
	f      *fixture
	orders atomic.Uint64
}

func (b *buy) next(tgt *vegeta.Target) {
	who := b.f.Buyers[b.req.intn(len(b.f.Buyers))]
	p := b.f.Own[b.req.intn(len(b.f.Own))]
	key := fmt.Sprintf("loadgen-%s-buy-%d", b.f.RunID, b.orders.Add(1))
	b.req.fill(tgt, tag{Scenario: Buy, Op: opPlaceOrder}, "POST", "/v1/orders", who.token(),
		orderBody(who.address, orderItem{ProductID: p.ID, Quantity: 1}), "Idempotency-Key", key)
}

func (b *buy) observe(tag, *vegeta.Result) {}
