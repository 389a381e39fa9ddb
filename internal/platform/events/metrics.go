package events

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// Metrics counts what publishers and consumers do. One value serves every
// Publisher and Consumer of a process; a nil *Metrics counts nothing, so
// code and tests that do not care pass nil.
type Metrics struct {
	Published       *prometheus.CounterVec // by type: confirmed by the broker
	PublishFailures *prometheus.CounterVec // by type: not confirmed; the caller must retry
	Unroutable      *prometheus.CounterVec // by type: confirmed, but no queue was bound
	Consumed        *prometheus.CounterVec // by queue: handled and acked
	HandlerFailures *prometheus.CounterVec // by queue: handler returned an error or panicked
	DeadLettered    *prometheus.CounterVec // by queue, reason: moved to the dead-letter queue
	// Lag is how long after the change it reports an event was handled:
	// a consumer falling behind shows here before its queue overflows.
	Lag     *prometheus.HistogramVec // by queue
	LastLag *prometheus.GaugeVec     // by queue: the lag of the last event handled
}

// NewMetrics creates the counters and registers them with reg; a nil reg
// returns nil, meaning no metrics. Registering twice on one registry (two
// services in one process) shares the counters instead of panicking.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	}
	return &Metrics{
		Published:       counter("events_published_total", "Events the broker confirmed.", "type"),
		PublishFailures: counter("events_publish_failures_total", "Publishes that returned an error; the caller keeps the event for retry.", "type"),
		Unroutable:      counter("events_unroutable_total", "Confirmed events that no queue was bound to receive.", "type"),
		Consumed:        counter("events_consumed_total", "Events handled successfully and acked.", "queue"),
		HandlerFailures: counter("events_handler_failures_total", "Handler calls that returned an error or panicked.", "queue"),
		DeadLettered:    counter("events_dead_lettered_total", "Messages moved to the dead-letter queue.", "queue", "reason"),
		Lag: observability.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "events_consumer_lag_seconds",
			Help:    "Time from the change an event reports to its handling by a consumer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"queue"})),
		LastLag: observability.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "events_consumer_last_lag_seconds",
			Help: "Lag of the last event a consumer handled: how far behind the changes it is.",
		}, []string{"queue"})),
	}
}

// The methods below are no-ops on a nil *Metrics.

func (m *Metrics) published(typ string) {
	if m != nil {
		m.Published.WithLabelValues(typ).Inc()
		// The type's failure series exist from its first publish, so
		// dashboards and increase() see zeros, not absent series.
		m.PublishFailures.WithLabelValues(typ)
		m.Unroutable.WithLabelValues(typ)
	}
}

// subscribed makes the queue's series exist at zero before anything
// happens to it, so that alerts on their increase see the first one.
func (m *Metrics) subscribed(queue string) {
	if m != nil {
		m.Consumed.WithLabelValues(queue)
		m.HandlerFailures.WithLabelValues(queue)
		for _, reason := range []string{ReasonMalformed, ReasonMaxAttempts} {
			m.DeadLettered.WithLabelValues(queue, reason)
		}
	}
}

func (m *Metrics) publishFailed(typ string) {
	if m != nil {
		m.PublishFailures.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) unroutable(typ string) {
	if m != nil {
		m.Unroutable.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) consumed(queue string, happened time.Time) {
	if m != nil {
		m.Consumed.WithLabelValues(queue).Inc()
		if !happened.IsZero() {
			lag := max(time.Since(happened).Seconds(), 0)
			m.Lag.WithLabelValues(queue).Observe(lag)
			m.LastLag.WithLabelValues(queue).Set(lag)
		}
	}
}

func (m *Metrics) handlerFailed(queue string) {
	if m != nil {
		m.HandlerFailures.WithLabelValues(queue).Inc()
	}
}

func (m *Metrics) deadLettered(queue, reason string) {
	if m != nil {
		m.DeadLettered.WithLabelValues(queue, reason).Inc()
	}
}
