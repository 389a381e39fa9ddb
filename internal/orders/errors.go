package orders

import (
	"errors"
	"fmt"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Errors a Store reports; the service turns them into errs values.
var (
	// ErrNotFound is a missing row.
	ErrNotFound = errors.New("not found")
	// ErrInsufficientStock is a reservation that would take more than is
	// available.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrBelowReserved is a stock level lower than what orders hold.
	ErrBelowReserved = errors.New("stock below reserved")
	// ErrKeyLinked is an idempotency key that already names an order: a
	// request that lost its key to a retry must not make a second one.
	ErrKeyLinked = errors.New("idempotency key already linked to an order")
	// ErrKeyTaken is an idempotency key that an order's transaction was to
	// record (ADR 0055) but that exists already: another request under it
	// ran or runs. The order was not made; the caller claims the key as any
	// keyed request does and answers as the key says.
	ErrKeyTaken = errors.New("idempotency key already taken")
	// ErrProductChanged is a product an order was priced from that the
	// projection no longer holds at that version.
	ErrProductChanged = errors.New("product changed since it was priced")
)

// Errors the service returns, mapped to HTTP in one place by httpx.
var (
	errOrderNotFound     = errs.New(errs.NotFound, "order_not_found", "no such order")
	errSubOrderNotFound  = errs.New(errs.NotFound, "sub_order_not_found", "no such sub-order")
	errProductNotFound   = errs.New(errs.NotFound, "product_not_found", "no such product")
	errEmptyCart         = errs.New(errs.Unprocessable, "empty_order", "the cart is empty and no items were given")
	errMixedCurrencies   = errs.New(errs.Unprocessable, "mixed_currencies", "one order takes one currency; check out each currency on its own")
	errSellerOnly        = errs.New(errs.Forbidden, "seller_only", "only sellers may manage stock")
	errReservationGone   = errs.New(errs.Conflict, "reservation_expired", "the stock held for this order was released; check out again")
	errPaymentRunning    = errs.New(errs.Conflict, "payment_in_progress", "a payment for this order is being processed; read the order again shortly")
	errPaymentUnresolved = errs.New(errs.Conflict, "payment_unresolved",
		"this order's payment could not be confirmed with the payment provider in time; it will not be charged again and is being reconciled")
	errAlreadyShipped = errs.New(errs.Conflict, "already_shipped", "an order cannot be cancelled once a sub-order has shipped")
	errBelowReserved  = errs.New(errs.Conflict, "stock_below_reserved", "on_hand cannot go below what unpaid orders hold")
	errProductChanged = &errs.Error{Kind: errs.Conflict, Code: "product_changed",
		Message: "a product in this order changed while the order was placed; check out again", RetryAfter: time.Second}
	errKeyLinked = &errs.Error{Kind: errs.Conflict, Code: "idempotency_key_in_use",
		Message: "another request with this Idempotency-Key made the order; retry to get its answer", RetryAfter: time.Second}
)

func errUnavailable(productID string) error {
	return errs.New(errs.Conflict, "insufficient_stock", "not enough of product %s is available", productID)
}

func errNotForSale(productID string) error {
	return &errs.Error{Kind: errs.Unprocessable, Code: "product_unavailable",
		Message: fmt.Sprintf("product %s is not for sale", productID)}
}

// ErrCartFull is a cart line that would go past the cap on lines.
var ErrCartFull = errs.New(errs.Unprocessable, "cart_full", "a cart holds at most %d products", maxCartLines)
