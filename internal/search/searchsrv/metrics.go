package searchsrv

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/search"
)

// metrics are the index's freshness and size.
type metrics struct {
	lag     prometheus.Histogram
	lastLag prometheus.Gauge
	writes  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, engine search.Engine) *metrics {
	m := &metrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "search_index_lag_seconds",
			Help:    "Time from a product's change in the products service to its being searchable, per change applied from an event.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		lastLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "search_index_last_lag_seconds",
			Help: "Lag of the last change applied from an event.",
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "search_index_products_written_total",
			Help: "Product versions written to the index, by source (events or rebuild).",
		}, []string{"source"}),
	}
	products := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "search_index_products",
		Help: "Products in the index, of every status.",
	}, func() float64 { return float64(engine.Stats().Products) })
	segments := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "search_index_segments",
		Help: "Segments the index is stored in; each search visits every one, and a compaction merges them into one.",
	}, func() float64 { return float64(engine.Stats().Segments) })
	if reg != nil {
		// A restarted service in one process (tests) finds its metrics
		// registered already: it takes them over; the gauge of the old
		// index stays, so it is registered only once.
		m.lag = observability.Register(reg, m.lag)
		m.lastLag = observability.Register(reg, m.lastLag)
		m.writes = observability.Register(reg, m.writes)
		_ = reg.Register(products)
		_ = reg.Register(segments)
	}
	return m
}

// applied records a write to the index.
func (m *metrics) applied(docs []search.Doc, fromEvents bool) {
	if !fromEvents {
		m.writes.WithLabelValues("rebuild").Add(float64(len(docs)))
		return
	}
	m.writes.WithLabelValues("events").Add(float64(len(docs)))
	now := time.Now()
	for _, d := range docs {
		lag := max(now.Sub(d.UpdatedAt), 0).Seconds()
		m.lag.Observe(lag)
		m.lastLag.Set(lag)
	}
}
