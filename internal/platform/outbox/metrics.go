package outbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// metrics counts one relay's work; a nil *metrics counts nothing.
type metrics struct {
	relayed  prometheus.Counter
	failures prometheus.Counter
	delay    prometheus.Observer
}

// newMetrics registers the relay's series with reg, labelled with the
// relay's name so that the relays of several services in one process
// (target all) share a registry without colliding; a nil reg means no
// metrics.
func newMetrics(reg prometheus.Registerer, name string) *metrics {
	if reg == nil {
		return nil
	}
	relayed := observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_events_relayed_total",
		Help: "Outbox events the broker confirmed and the relay deleted.",
	}, []string{"outbox"}))
	failures := observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outbox_relay_failures_total",
		Help: "Relay flushes that failed; their unconfirmed events stay for the next one.",
	}, []string{"outbox"}))
	delay := observability.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "outbox_relay_delay_seconds",
		Help: "Time from the start of the transaction that added an event to the broker's confirm.",
		// From a notified relay (milliseconds) to a broker outage (minutes).
		Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
	}, []string{"outbox"}))
	return &metrics{
		relayed:  relayed.WithLabelValues(name),
		failures: failures.WithLabelValues(name),
		delay:    delay.WithLabelValues(name),
	}
}

// The methods below are no-ops on a nil *metrics.

func (m *metrics) confirmed(created time.Time) {
	if m != nil {
		m.relayed.Inc()
		m.delay.Observe(time.Since(created).Seconds())
	}
}

func (m *metrics) failed() {
	if m != nil {
		m.failures.Inc()
	}
}

// backlogCollector reads the outbox table when Prometheus scrapes: how
// many events wait for the relay and how old the oldest is. A growing
// backlog means the broker or the relay is stuck; no polling goroutine
// runs between scrapes.
type backlogCollector struct {
	pool    *pgxpool.Pool
	name    string
	pending *prometheus.Desc
	oldest  *prometheus.Desc
}

func newBacklogCollector(pool *pgxpool.Pool, name string) *backlogCollector {
	labels := prometheus.Labels{"outbox": name}
	return &backlogCollector{pool: pool, name: name,
		pending: prometheus.NewDesc("outbox_backlog_events", "Events in the outbox table waiting to be relayed.", nil, labels),
		oldest:  prometheus.NewDesc("outbox_oldest_event_age_seconds", "Age of the oldest event waiting in the outbox (0 when empty).", nil, labels),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n, age float64
	err := c.pool.QueryRow(ctx, `SELECT count(*)::float8, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM `+table).Scan(&n, &age)
	if err != nil {
		return // the database is down: datastore_up says so
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, n)
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}
