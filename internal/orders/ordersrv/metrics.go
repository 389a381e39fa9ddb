package ordersrv

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// businessMetrics exports what the orders service commits (orders.Metrics)
// as Prometheus counters. Labels are bounded: ISO currencies, the
// configured provider, fixed outcomes.
type businessMetrics struct {
	created, paid, expired, stockOuts prometheus.Counter
	payments, refunds                 *prometheus.CounterVec
	revenue, refunded                 *prometheus.CounterVec
}

// newBusinessMetrics registers the counters on reg; provider is the
// configured payment provider, whose series exist from the start.
func newBusinessMetrics(reg prometheus.Registerer, provider string) *businessMetrics {
	counter := func(name, help string) prometheus.Counter {
		return observability.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
	}
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	}
	m := &businessMetrics{
		created:   counter("orders_created_total", "Orders placed at checkout."),
		paid:      counter("orders_paid_total", "Orders whose charge succeeded."),
		expired:   counter("orders_reservations_expired_total", "Unpaid orders cancelled because their stock reservation ran out."),
		stockOuts: counter("orders_stock_outs_total", "Checkouts refused because a product had too few units left."),
		payments:  vec("orders_payments_total", "Answers from the payment provider, by provider and outcome (succeeded, declined, unknown).", "provider", "outcome"),
		refunds:   vec("orders_refunds_total", "Refunds, by provider and outcome (refunded, failed).", "provider", "outcome"),
		revenue:   vec("orders_revenue_minor_total", "Money taken for paid orders, in the currency's minor units (cents).", "currency"),
		refunded:  vec("orders_refunded_minor_total", "Money refunded, in the currency's minor units.", "currency"),
	}
	// Every outcome exists from the start, so rates and alerts see zeros
	// instead of absent series.
	for _, outcome := range []string{"succeeded", "declined", "unknown"} {
		m.payments.WithLabelValues(provider, outcome)
	}
	for _, outcome := range []string{orders.RefundRefunded, orders.RefundFailed} {
		m.refunds.WithLabelValues(provider, outcome)
	}
	return m
}

func (m *businessMetrics) OrderCreated(orders.Money) { m.created.Inc() }

func (m *businessMetrics) OrderPaid(total orders.Money, _ string) {
	m.paid.Inc()
	m.revenue.WithLabelValues(total.Currency).Add(float64(total.Amount))
}

func (m *businessMetrics) PaymentAttempt(provider, outcome string) {
	m.payments.WithLabelValues(provider, outcome).Inc()
}

func (m *businessMetrics) ReservationsExpired(n int) { m.expired.Add(float64(n)) }

func (m *businessMetrics) StockOut() { m.stockOuts.Inc() }

func (m *businessMetrics) Refund(amount orders.Money, provider, outcome string) {
	m.refunds.WithLabelValues(provider, outcome).Inc()
	if outcome == orders.RefundRefunded {
		m.refunded.WithLabelValues(amount.Currency).Add(float64(amount.Amount))
	}
}

// paymentsCollector reads the payments in processing when Prometheus
// scrapes: one indexed count, no polling goroutine.
type paymentsCollector struct {
	store         *orderdb.Store
	count, oldest *prometheus.Desc
}

func newPaymentsCollector(store *orderdb.Store) *paymentsCollector {
	return &paymentsCollector{store: store,
		count:  prometheus.NewDesc("orders_payments_processing", "Payments whose outcome is not known yet.", nil, nil),
		oldest: prometheus.NewDesc("orders_payments_processing_oldest_seconds", "Age of the oldest payment whose outcome is not known yet (0 when none).", nil, nil),
	}
}

func (c *paymentsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.oldest
}

func (c *paymentsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.store.ProcessingPayments(ctx)
	if err != nil {
		return // the database is down: datastore_up says so
	}
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest.Seconds())
}
