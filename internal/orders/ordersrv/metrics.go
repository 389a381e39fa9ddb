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

// paymentsCollector reads the payments that wait on their provider when
// Prometheus scrapes: one query, no polling goroutine.
type paymentsCollector struct {
	store                  *orderdb.Store
	charges, chargesOldest *prometheus.Desc
	refunds, refundsOldest *prometheus.Desc
	unreconciled           *prometheus.Desc
}

func newPaymentsCollector(store *orderdb.Store) *paymentsCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &paymentsCollector{store: store,
		charges:       desc("orders_payments_processing", "Payments whose outcome is not known yet, which the resolver asks about again."),
		chargesOldest: desc("orders_payments_processing_oldest_seconds", "Age of the oldest payment whose outcome is not known yet and is still asked about (0 when none)."),
		refunds:       desc("orders_refunds_pending", "Refunds asked for and not made yet, which the resolver retries."),
		refundsOldest: desc("orders_refunds_pending_oldest_seconds", "Time since the oldest refund not made yet and still retried was asked for (0 when none)."),
		unreconciled: desc("orders_payments_unreconciled", "Charges whose outcome is unknown and refunds not made that the resolver no longer retries, "+
			"since the provider may have forgotten their idempotency key: each needs a person.", "kind"),
	}
}

func (c *paymentsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.charges, c.chargesOldest, c.refunds, c.refundsOldest, c.unreconciled} {
		ch <- d
	}
}

func (c *paymentsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	charges, refunds, err := c.store.UnsettledPayments(ctx)
	if err != nil {
		return // the database is down: datastore_up says so
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.charges, float64(charges.Count))
	gauge(c.chargesOldest, charges.Oldest.Seconds())
	gauge(c.refunds, float64(refunds.Count))
	gauge(c.refundsOldest, refunds.Oldest.Seconds())
	gauge(c.unreconciled, float64(charges.Unreconciled), "charge")
	gauge(c.unreconciled, float64(refunds.Unreconciled), "refund")
}
