package orders

// Metrics receives the business facts the service commits, so that an
// operator can count orders, payments and revenue. Each method is called
// once the transaction that made the fact true has committed, never for a
// change that rolled back or was already recorded. The service knows
// nothing of how they are exported (ordersrv exports them to Prometheus).
type Metrics interface {
	// OrderCreated is called for each order checkout placed.
	OrderCreated(total Money)
	// OrderPaid is called when an order's charge succeeded: total is
	// revenue.
	OrderPaid(total Money, provider string)
	// PaymentAttempt is called for each answer from the provider:
	// outcome is "succeeded", "declined" or "unknown" (no answer: the
	// payment stays processing and is resolved in the background).
	PaymentAttempt(provider, outcome string)
	// ReservationsExpired is called with the number of unpaid orders
	// whose reservation ran out and were cancelled.
	ReservationsExpired(n int)
	// StockOut is called when checkout is refused because a product has
	// too few units left.
	StockOut()
	// Refund is called when a refund was made ("refunded") or the
	// provider refused it for good ("failed").
	Refund(amount Money, provider, outcome string)
}

// SetMetrics makes the service report to m; without it, nothing is
// counted.
func (s *Service) SetMetrics(m Metrics) { s.metrics = m }

// noMetrics counts nothing.
type noMetrics struct{}

func (noMetrics) OrderCreated(Money)            {}
func (noMetrics) OrderPaid(Money, string)       {}
func (noMetrics) PaymentAttempt(string, string) {}
func (noMetrics) ReservationsExpired(int)       {}
func (noMetrics) StockOut()                     {}
func (noMetrics) Refund(Money, string, string)  {}
