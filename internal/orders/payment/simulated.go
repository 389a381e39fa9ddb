package payment

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/marketplace-go/marketplace/internal/orders"
)

// DeclinedPaymentMethod is the payment method Simulated always declines. It
// is Stripe's test token for a declined card, so the same fixtures decline
// against Stripe's test mode and against Simulated.
const DeclinedPaymentMethod = "pm_card_declined"

// Decline reasons Simulated gives, named like Stripe's decline codes.
const (
	simReasonDeclinedCard = "generic_decline"
	simReasonDrawn        = "insufficient_funds"
)

// SimulatedConfig configures a Simulated gateway.
type SimulatedConfig struct {
	// Latency is how long each call takes, as a provider's round trip
	// would. Zero means no delay.
	Latency time.Duration
	// DeclineRate is the share of charges declined, from 0 (none) to 1
	// (all); values outside are clamped.
	DeclineRate float64
	// Seed makes the outcomes reproducible: the same seed and keys give the
	// same declines and ids, whatever the order of the calls.
	Seed int64
}

// Simulated is a PaymentGateway that moves no money, for local runs and load
// tests. It behaves like a provider where it matters to the orders service:
// it is idempotent by key, declines some charges, takes time, and can fail
// with an unknown outcome after it has charged. It records every charge and
// refund so tests can count them. It is safe for concurrent use.
type Simulated struct {
	cfg SimulatedConfig

	mu          sync.Mutex
	chargeByKey map[string]*simCharge
	chargeByID  map[string]*simCharge
	chargeLog   []*simCharge // in the order they were made
	refundByKey map[string]*simRefund
	refundLog   []orders.Refund
}

type simCharge struct {
	req      orders.ChargeRequest
	charge   orders.Charge
	refunded int64
}

type simRefund struct {
	req    orders.RefundRequest
	refund orders.Refund
}

// Simulated must stay usable as the orders service's gateway.
var _ orders.PaymentGateway = (*Simulated)(nil)

// NewSimulated returns a Simulated gateway for cfg.
func NewSimulated(cfg SimulatedConfig) *Simulated {
	cfg.DeclineRate = min(max(cfg.DeclineRate, 0), 1)
	return &Simulated{
		cfg:         cfg,
		chargeByKey: make(map[string]*simCharge),
		chargeByID:  make(map[string]*simCharge),
		refundByKey: make(map[string]*simRefund),
	}
}

// Charge charges req, or returns the outcome of the charge already made
// under req.Key. DeclinedPaymentMethod always declines; any other non-empty
// payment method succeeds unless the seeded draw for req.Key falls under
// DeclineRate. An empty payment method returns an error wrapping
// orders.ErrPaymentMethodInvalid.
//
// The charge is recorded before the simulated latency. A context that ends
// before the call charges nothing; one that ends during the latency returns
// its error although the charge was made, as when a provider charges and the
// answer is lost to a timeout. Either way the outcome is unknown to the
// caller, and a repeat with the same key returns the recorded one.
func (g *Simulated) Charge(ctx context.Context, req orders.ChargeRequest) (orders.Charge, error) {
	switch {
	case req.Key == "":
		return orders.Charge{}, fmt.Errorf("simulated gateway: charge: %w: empty idempotency key", ErrRejected)
	case req.PaymentMethod == "":
		return orders.Charge{}, fmt.Errorf("simulated gateway: charge: %w: empty payment method", orders.ErrPaymentMethodInvalid)
	case req.Amount <= 0:
		return orders.Charge{}, fmt.Errorf("simulated gateway: charge: %w: amount %d is not positive", ErrRejected, req.Amount)
	}
	if err := ctx.Err(); err != nil {
		return orders.Charge{}, fmt.Errorf("simulated gateway: charge %q not sent: %w", req.Key, err)
	}

	charge, err := g.recordCharge(req)
	if err != nil {
		return orders.Charge{}, err
	}
	if err := g.wait(ctx); err != nil {
		return orders.Charge{}, fmt.Errorf("simulated gateway: charge %q: outcome unknown: %w", req.Key, err)
	}
	return charge, nil
}

// recordCharge makes the charge for req once per key and returns it.
func (g *Simulated) recordCharge(req orders.ChargeRequest) (orders.Charge, error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	if c, ok := g.chargeByKey[req.Key]; ok {
		if c.req != req {
			return orders.Charge{}, fmt.Errorf("simulated gateway: charge %q: %w", req.Key, ErrKeyReused)
		}
		return c.charge, nil
	}

	id, draw := g.derive("charge", req.Key)
	charge := orders.Charge{ID: "ch_sim_" + id, Status: orders.ChargeSucceeded}
	switch {
	case req.PaymentMethod == DeclinedPaymentMethod:
		charge.Status, charge.DeclineReason = orders.ChargeDeclined, simReasonDeclinedCard
	case draw < g.cfg.DeclineRate:
		charge.Status, charge.DeclineReason = orders.ChargeDeclined, simReasonDrawn
	}

	c := &simCharge{req: req, charge: charge}
	g.chargeByKey[req.Key] = c
	g.chargeByID[charge.ID] = c
	g.chargeLog = append(g.chargeLog, c)
	return charge, nil
}

// Refund refunds req.Amount of the charge req.ChargeID, or all that is left
// of it when req.Amount is zero, or returns the refund already made under
// req.Key. Refunding an unknown or declined charge, more than is left, or in
// another currency returns an error wrapping ErrRejected. The context is
// honoured as in Charge.
func (g *Simulated) Refund(ctx context.Context, req orders.RefundRequest) (orders.Refund, error) {
	if req.Key == "" {
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund: %w: empty idempotency key", ErrRejected)
	}
	if err := ctx.Err(); err != nil {
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q not sent: %w", req.Key, err)
	}

	refund, err := g.recordRefund(req)
	if err != nil {
		return orders.Refund{}, err
	}
	if err := g.wait(ctx); err != nil {
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: outcome unknown: %w", req.Key, err)
	}
	return refund, nil
}

// recordRefund makes the refund for req once per key and returns it.
func (g *Simulated) recordRefund(req orders.RefundRequest) (orders.Refund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	if r, ok := g.refundByKey[req.Key]; ok {
		if r.req != req {
			return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: %w", req.Key, ErrKeyReused)
		}
		return r.refund, nil
	}

	c, ok := g.chargeByID[req.ChargeID]
	switch {
	case !ok:
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: %w: no charge %q", req.Key, ErrRejected, req.ChargeID)
	case c.charge.Status != orders.ChargeSucceeded:
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: %w: charge %q took no money", req.Key, ErrRejected, req.ChargeID)
	case req.Currency != "" && !strings.EqualFold(req.Currency, c.req.Currency):
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: %w: currency %s, charge was in %s", req.Key, ErrRejected, req.Currency, c.req.Currency)
	case req.Amount < 0:
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: %w: negative amount %d", req.Key, ErrRejected, req.Amount)
	}
	left := c.req.Amount - c.refunded
	amount := req.Amount
	if amount == 0 {
		amount = left
	}
	if amount == 0 || amount > left {
		return orders.Refund{}, fmt.Errorf("simulated gateway: refund %q: %w: %d asked, %d left of charge %q", req.Key, ErrRejected, amount, left, req.ChargeID)
	}

	id, _ := g.derive("refund", req.Key)
	refund := orders.Refund{ID: "re_sim_" + id}
	c.refunded += amount
	g.refundByKey[req.Key] = &simRefund{req: req, refund: refund}
	g.refundLog = append(g.refundLog, refund)
	return refund, nil
}

// Charges returns every charge made, declined ones included, one per
// idempotency key, in the order they were made.
func (g *Simulated) Charges() []orders.Charge {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]orders.Charge, len(g.chargeLog))
	for i, c := range g.chargeLog {
		out[i] = c.charge
	}
	return out
}

// ChargeCount returns how many distinct charges took money, that is
// succeeded; a repeat under the same key does not count again.
func (g *Simulated) ChargeCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.chargeLog {
		if c.charge.Status == orders.ChargeSucceeded {
			n++
		}
	}
	return n
}

// Refunds returns every refund made, one per idempotency key, in the order
// they were made.
func (g *Simulated) Refunds() []orders.Refund {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]orders.Refund(nil), g.refundLog...)
}

// wait simulates the provider's latency, giving up when ctx ends.
func (g *Simulated) wait(ctx context.Context) error {
	if g.cfg.Latency <= 0 {
		return nil
	}
	timer := time.NewTimer(g.cfg.Latency)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// derive returns an id and a draw in [0, 1) that depend only on the seed,
// purpose and key. Hashing, rather than drawing from one random stream,
// keeps outcomes reproducible when concurrent callers arrive in any order.
func (g *Simulated) derive(purpose, key string) (id string, draw float64) {
	h := sha256.New()
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(g.cfg.Seed))
	h.Write(seed[:])
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(key))
	sum := h.Sum(nil)
	// The top 53 bits of the last word make a uniform float64.
	draw = float64(binary.BigEndian.Uint64(sum[24:])>>11) / (1 << 53)
	return hex.EncodeToString(sum[:12]), draw
}
