package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// Store keeps the service's state in its own database. Reads stand alone;
// every change that must hold together runs in InTx.
type Store interface {
	// InTx runs fn in one transaction, committed if fn returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
	// InGroupTx is InTx for an fn that only writes, whose transaction may
	// be committed together with other callers' (group commit, ADR 0060);
	// each one's writes still commit all or none. A Tx method that reads
	// fails in it.
	InGroupTx(ctx context.Context, fn func(Tx) error) error

	// Products returns the projection's copies of the products asked for;
	// missing ones are absent from the map.
	Products(ctx context.Context, ids []string) (map[string]Product, error)
	// SaveProduct stores p unless a copy at the same or a newer version is
	// there. eventID, when set, is recorded in the inbox in the same
	// transaction, and a repeated event changes nothing.
	SaveProduct(ctx context.Context, p Product, eventID string) (saved bool, err error)

	Stock(ctx context.Context, productID string) (Stock, error)

	Cart(ctx context.Context, buyerID string) ([]CartLine, error)
	// SetCartItem adds or changes a cart line, unless adding it would make
	// the cart longer than maxLines: then ErrCartFull. The count and the
	// write are one step, so concurrent adds cannot overshoot the cap.
	SetCartItem(ctx context.Context, buyerID, productID string, quantity, maxLines int) error
	RemoveCartItem(ctx context.Context, buyerID, productID string) error
	ClearCart(ctx context.Context, buyerID string) error

	// Order returns an order with its sub-orders, lines, history and payment.
	Order(ctx context.Context, id string) (Order, error)
	// SubOrder returns a sub-order with its lines and history.
	SubOrder(ctx context.Context, id string) (SubOrder, error)
	// Orders lists orders newest first, with their sub-orders and lines.
	Orders(ctx context.Context, f OrderFilter) ([]Order, error)
	// SubOrders lists a seller's sub-orders newest first, with their lines.
	SubOrders(ctx context.Context, f OrderFilter) ([]SubOrder, error)

	// ExpiredOrders returns up to limit unpaid orders whose reservation
	// ran out by now and whose payment is not being processed, in the
	// order they ran out, from the one after after (the zero Expiry: from
	// the first).
	ExpiredOrders(ctx context.Context, now time.Time, after Expiry, limit int) ([]Expiry, error)
	// UnresolvedPayments returns charges with no recorded outcome and
	// refunds not yet made, last touched before the given time.
	UnresolvedPayments(ctx context.Context, before time.Time, limit int) ([]Payment, error)
}

// Expiry is an order whose reservation ran out, as the expiry sweep
// pages through them: each page starts after the last of the one before,
// so orders the sweep passes over stay behind it.
type Expiry struct {
	OrderID       string
	ReservedUntil time.Time
}

// OrderFilter selects a page of orders or sub-orders.
type OrderFilter struct {
	// UserID is the buyer (orders) or the seller (sub-orders); empty means
	// everyone's, for admins.
	UserID string
	After  *Cursor
	Limit  int
}

// Cursor is the position after the last item of a page.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// IdempotencyKeys keeps the Idempotency-Key of each retry-safe request
// with its answer, so that a retry gets the first answer instead of
// running again. CreateOrder links a claimed key to the order it made, in
// the order's transaction, and fails with ErrKeyLinked if the key already
// names an order: one key never makes two orders, whatever the timing. Or
// it records an unclaimed key with its answer (ADR 0055), and fails with
// ErrKeyTaken if the key exists.
type IdempotencyKeys interface {
	// ClaimKey takes a key for holder (a request's own id), or reports
	// what the key already holds. A key whose holder has not renewed its
	// lease in time and created nothing may be taken over: the holder died.
	ClaimKey(ctx context.Context, userID, key, operation string, hash []byte, holder string, lease time.Duration) (KeyClaim, error)
	// RenewKey extends holder's lease, or reports false if holder lost the
	// key.
	RenewKey(ctx context.Context, userID, key, holder string, lease time.Duration) (bool, error)
	// CompleteKey stores holder's answer under its key.
	CompleteKey(ctx context.Context, userID, key, holder string, status int, body []byte) error
	// ReleaseKey forgets holder's key whose answer is not to be kept (a
	// failure on our side, an outcome still pending), so that a retry runs
	// again.
	ReleaseKey(ctx context.Context, userID, key, holder string) error
	// AnswerKey records a key nobody claimed with the answer of the request
	// that ran under it (a checkout's refusal, ADR 0055), and reports false,
	// recording nothing, if the key exists.
	AnswerKey(ctx context.Context, userID, key string, a KeyAnswer) (bool, error)
}

// KeyAnswer is a key's request and the answer it got, recorded together
// when the key was never claimed (ADR 0055).
type KeyAnswer struct {
	// Operation and RequestHash say what was asked, as ClaimKey takes them.
	Operation   string
	RequestHash []byte
	// Status and Body are the answer, replayed to every retry.
	Status int
	Body   []byte
}

// OrderKey is the Idempotency-Key an order is made under.
type OrderKey struct {
	// Name is the client's key; empty when it sent none.
	Name string
	// Answer, when set, is recorded with the key in the order's
	// transaction: the key was not claimed before the work (ADR 0055).
	// When nil, the key was claimed (ADR 0019) and is linked to the order.
	Answer *KeyAnswer
}

// KeyClaim is what ClaimKey found.
type KeyClaim struct {
	// Owned: the caller holds the key and does the work.
	Owned bool
	// Mismatch: the key was used for a different request.
	Mismatch bool
	// Status and Body are the stored answer, when Status is not zero.
	Status int
	Body   []byte
	// ResourceID is what the first request created, when it got that far
	// but its answer was not stored (the process died in between).
	ResourceID string
}

// Tx is a transaction's view of the store. Every method takes row locks
// held until the transaction ends.
type Tx interface {
	// SetStock sets on_hand, creating the row if needed.
	SetStock(ctx context.Context, productID string, onHand int64) (Stock, error)
	// AdjustStock adds delta (which may be negative) to on_hand.
	AdjustStock(ctx context.Context, productID string, delta int64) (Stock, error)
	// Reserve holds the quantities for an order, all or nothing. Too few
	// free units fail the transaction with *InsufficientStockError, from
	// Reserve or at the latest from InTx or InGroupTx when it commits.
	Reserve(ctx context.Context, items []Item) error
	// CheckProducts fails the transaction with ErrProductChanged, from
	// CheckProducts or at the latest from InTx or InGroupTx when it commits, if the
	// projection holds any of ps at another version or not at all.
	CheckProducts(ctx context.Context, ps []Product) error
	// Release gives back what an unpaid order held.
	Release(ctx context.Context, items []Item) error
	// Consume turns a paid order's reservation into a sale: on_hand and
	// reserved both go down.
	Consume(ctx context.Context, items []Item) error
	// Restock puts a cancelled paid order's units back on hand.
	Restock(ctx context.Context, items []Item) error

	// CreateOrder inserts an order with its sub-orders and lines. The
	// buyer's idempotency key, if any, is linked to it or recorded with its
	// answer in the same transaction (see OrderKey).
	CreateOrder(ctx context.Context, o Order, key OrderKey) error
	// RemoveFromCart removes the products from the buyer's cart.
	RemoveFromCart(ctx context.Context, buyerID string, productIDs []string) error
	// LockOrder loads an order with its sub-orders, lines and payment, and
	// locks it.
	LockOrder(ctx context.Context, id string) (Order, error)
	// OrderOfSubOrder returns the id of the order a sub-order belongs to.
	OrderOfSubOrder(ctx context.Context, subOrderID string) (string, error)
	// UpdateOrder writes the order's status, version and time, and those
	// of its sub-orders with their tracking numbers.
	UpdateOrder(ctx context.Context, o Order) error
	// AddHistory records status changes.
	AddHistory(ctx context.Context, orderID string, changes []Change) error
	// AddEvents puts events in the outbox, to be published after commit.
	AddEvents(ctx context.Context, evs ...events.Event) error

	// SavePayment inserts or updates an order's payment.
	SavePayment(ctx context.Context, p Payment) error
}

// Catalog reads products from the products service, for those the
// projection has not seen yet.
type Catalog interface {
	// Product returns a product anyone may see (or the caller in ctx may
	// see, such as its own draft), or ErrNotFound.
	Product(ctx context.Context, id string) (Product, error)
}

// InsufficientStockError names the product a reservation failed on.
type InsufficientStockError struct {
	ProductID string
}

func (e *InsufficientStockError) Error() string {
	return fmt.Sprintf("insufficient stock of product %s", e.ProductID)
}

// Unwrap makes errors.Is(err, ErrInsufficientStock) hold.
func (e *InsufficientStockError) Unwrap() error { return ErrInsufficientStock }
