package events

import (
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
	}
}

// The methods below are no-ops on a nil *Metrics.

func (m *Metrics) published(typ string) {
	if m != nil {
		m.Published.WithLabelValues(typ).Inc()
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

func (m *Metrics) consumed(queue string) {
	if m != nil {
		m.Consumed.WithLabelValues(queue).Inc()
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
