// Package orders is the orders service's business core: carts, checkout,
// inventory with reservations, payments and the order state machine. It
// knows nothing of HTTP or SQL; orderapi and orderdb do.
package orders

import "time"

// Money is an amount in a currency's minor units, never a float.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Product is this service's copy of a catalog product: what it needs to
// price a cart and to know who sells what.
type Product struct {
	ID       string `json:"id"`
	SellerID string `json:"seller_id"`
	Title    string `json:"title"`
	Price    Money  `json:"price"`
	Status   string `json:"status"`
	Version  int64  `json:"version"`
}

// ProductActive is the catalog status of a product that may be bought.
const ProductActive = "active"

// Stock is a product's inventory. Available is what may still be
// reserved: OnHand minus what unpaid orders hold.
type Stock struct {
	ProductID string `json:"product_id"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
	// UpdatedAt is absent for a product never stocked.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Availability is what anyone may know of a product's stock: the units a
// buyer could check out now, without what the seller holds or unpaid
// orders reserve.
type Availability struct {
	ProductID string `json:"product_id"`
	Available int64  `json:"available"`
}

// CartLine is one product in a buyer's cart, priced now.
type CartLine struct {
	Product   Product `json:"product"`
	Quantity  int     `json:"quantity"`
	Available int64   `json:"available"`
	// Subtotal is the current price times the quantity.
	Subtotal Money `json:"subtotal"`
}

// Cart is a buyer's cart with current prices and availability.
type Cart struct {
	Lines []CartLine `json:"lines"`
	// Totals has one entry per currency in the cart: a cart may mix
	// currencies, an order may not.
	Totals []Money `json:"totals"`
}

// Item is a product and a quantity, as a buyer asks for it.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// Status is the state of an order or of a sub-order.
type Status string

// Order and sub-order states. An order moves through the first four; its
// sub-orders follow it until it is paid, then each seller moves its own
// through shipped and delivered. The order is delivered once all are.
const (
	PendingPayment Status = "pending_payment"
	Paid           Status = "paid"
	PaymentFailed  Status = "payment_failed"
	Cancelled      Status = "cancelled"
	Shipped        Status = "shipped"
	Delivered      Status = "delivered"
)

// Order is a buyer's order: lines frozen at checkout's prices, split into
// one sub-order per seller.
type Order struct {
	ID            string     `json:"id"`
	BuyerID       string     `json:"buyer_id"`
	Status        Status     `json:"status"`
	Total         Money      `json:"total"`
	Version       int64      `json:"version"`
	ReservedUntil time.Time  `json:"reserved_until"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	SubOrders     []SubOrder `json:"sub_orders"`
	History       []Change   `json:"history,omitempty"`
	Payment       *Payment   `json:"payment,omitempty"`
	// ShippingAddress is where the buyer wants the order delivered; nil
	// only for orders placed before it was required (ADRs 0033, 0041).
	ShippingAddress *Address `json:"shipping_address,omitempty"`
}

// Address is a postal address for a delivery, in the shape the users
// service keeps a profile's address.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code"`
	// Country is an ISO 3166-1 alpha-2 code, upper case.
	Country string `json:"country"`
}

// SubOrder is the part of an order one seller fulfils.
type SubOrder struct {
	ID             string    `json:"id"`
	OrderID        string    `json:"order_id"`
	SellerID       string    `json:"seller_id"`
	Status         Status    `json:"status"`
	Subtotal       Money     `json:"subtotal"`
	TrackingNumber string    `json:"tracking_number,omitempty"`
	Lines          []Line    `json:"lines"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// History is filled when a seller reads its sub-order on its own.
	History []Change `json:"history,omitempty"`
	// ShippingAddress is the order's, filled when a seller reads its own
	// sub-orders: where to send this part.
	ShippingAddress *Address `json:"shipping_address,omitempty"`
}

// Line is a product bought, at the price it had at checkout.
type Line struct {
	ProductID string `json:"product_id"`
	Title     string `json:"title"`
	UnitPrice Money  `json:"unit_price"`
	Quantity  int    `json:"quantity"`
}

// Change is one entry of an order's history.
type Change struct {
	SubOrderID string    `json:"sub_order_id,omitempty"`
	From       Status    `json:"from,omitempty"`
	To         Status    `json:"to"`
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// PaymentStatus is where a payment stands.
type PaymentStatus string

// Payment states. Processing means the provider was (or is about to be)
// asked and its answer is not recorded yet: it is resolved by asking again
// under the same key, never by charging anew.
const (
	PaymentProcessing PaymentStatus = "processing"
	PaymentSucceeded  PaymentStatus = "succeeded"
	PaymentDeclined   PaymentStatus = "declined"
)

// Refund states of a paid order that was cancelled.
const (
	RefundPending  = "pending"
	RefundRefunded = "refunded"
	// RefundFailed is a refund the provider refused for good: it needs a
	// person, and is not retried.
	RefundFailed = "failed"
)

// Payment is an order's charge.
type Payment struct {
	OrderID       string        `json:"-"`
	Provider      string        `json:"provider"`
	ChargeKey     string        `json:"-"`
	PaymentMethod string        `json:"-"`
	Amount        Money         `json:"amount"`
	Status        PaymentStatus `json:"status"`
	ChargeID      string        `json:"-"`
	DeclineReason string        `json:"decline_reason,omitempty"`
	Attempts      int           `json:"-"`
	RefundStatus  string        `json:"refund_status,omitempty"`
	RefundID      string        `json:"-"`
	UpdatedAt     time.Time     `json:"-"`
	// CreatedAt is when the charge was first asked for, from which the
	// provider keeps its key (KeyWindow); set by the store.
	CreatedAt time.Time `json:"-"`
}

// Actors recorded in the history for changes no user made.
const (
	ActorSystem = "system"
)
