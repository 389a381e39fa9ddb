package contracts

import "time"

// Order event types, also their routing keys.
const (
	OrderCreated       = "order.created"
	OrderPaid          = "order.paid"
	OrderCancelled     = "order.cancelled"
	OrderPaymentFailed = "order.payment_failed"
	OrderDelivered     = "order.delivered"
	SubOrderShipped    = "suborder.shipped"
	SubOrderDelivered  = "suborder.delivered"
)

// OrderEventVersion is the payload version of the order events below.
const OrderEventVersion = 1

// OrderV1 is an order as its events carry it. The envelope's Subject is
// the order id and its Sequence the order's version, which every change,
// a sub-order's included, raises by one.
type OrderV1 struct {
	ID        string       `json:"id"`
	BuyerID   string       `json:"buyer_id"`
	Status    string       `json:"status"`
	Total     int64        `json:"total"`    // minor units
	Currency  string       `json:"currency"` // ISO 4217
	Version   int64        `json:"version"`
	SubOrders []SubOrderV1 `json:"sub_orders"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// SubOrderV1 is the part of an order one seller fulfils.
type SubOrderV1 struct {
	ID             string        `json:"id"`
	SellerID       string        `json:"seller_id"`
	Status         string        `json:"status"`
	Subtotal       int64         `json:"subtotal"`
	TrackingNumber string        `json:"tracking_number,omitempty"`
	Lines          []OrderLineV1 `json:"lines"`
}

// OrderLineV1 is a product bought at its checkout price.
type OrderLineV1 struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

// OrderChangedV1 is the payload of every order and sub-order event: the
// order as it is after the change, and why it changed. SubOrderID names
// the sub-order for suborder.* events.
type OrderChangedV1 struct {
	Order      OrderV1 `json:"order"`
	SubOrderID string  `json:"sub_order_id,omitempty"`
	Reason     string  `json:"reason,omitempty"`
}
