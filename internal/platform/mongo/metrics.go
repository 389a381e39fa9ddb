package mongo

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// Option changes how Open connects.
type Option func(*options.ClientOptions)

// WithMetrics measures the client on reg: command latency by command name
// (from the driver's command monitor), failed connection check-outs
// (datastore_up), and the pool's connections (from its pool monitor),
// labelled database=name.
func WithMetrics(reg prometheus.Registerer, name string) Option {
	return func(o *options.ClientOptions) {
		m := observability.NewDatastoreMetrics(reg, "mongodb", name)
		if m == nil {
			return
		}
		p := &poolStats{}
		_ = reg.Register(newPoolCollector(p, name)) // a second client of the same name keeps the first's series
		o.SetMonitor(&event.CommandMonitor{
			Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
				m.Observe(command(e.CommandName), time.Now().Add(-e.Duration), nil)
			},
			Failed: func(_ context.Context, e *event.CommandFailedEvent) {
				m.Observe(command(e.CommandName), time.Now().Add(-e.Duration), e.Failure)
			},
		})
		o.SetPoolMonitor(&event.PoolMonitor{Event: func(e *event.PoolEvent) { p.observe(e, m) }})
	}
}

// commands are the operation labels; others are "other", so the label
// stays bounded.
var commands = map[string]bool{"find": true, "insert": true, "update": true, "delete": true, "aggregate": true,
	"count": true, "distinct": true, "findandmodify": true, "getmore": true, "createindexes": true, "ping": true,
	"hello": true, "ismaster": true, "endsessions": true, "killcursors": true}

func command(name string) string {
	if name = strings.ToLower(name); commands[name] {
		return name
	}
	return "other"
}

// poolStats counts the pool's connections from its events.
type poolStats struct {
	open, inUse, waits atomic.Int64
}

func (p *poolStats) observe(e *event.PoolEvent, m *observability.DatastoreMetrics) {
	switch e.Type {
	case event.ConnectionCreated:
		p.open.Add(1)
	case event.ConnectionClosed:
		p.open.Add(-1)
	case event.ConnectionCheckedOut:
		p.inUse.Add(1)
		m.Reached(true)
	case event.ConnectionCheckedIn:
		p.inUse.Add(-1)
	case event.ConnectionCheckOutFailed:
		p.waits.Add(1)
		if e.Reason == event.ReasonConnectionErrored || e.Reason == event.ReasonTimedOut {
			m.Reached(false)
		}
	}
}

// poolCollector reports poolStats when Prometheus scrapes.
type poolCollector struct {
	p               *poolStats
	conns, failures *prometheus.Desc
}

func newPoolCollector(p *poolStats, name string) *poolCollector {
	labels := prometheus.Labels{"system": "mongodb", "database": name}
	return &poolCollector{p: p,
		conns:    prometheus.NewDesc("datastore_pool_connections", "Connections of the client's pool, by state (idle, in_use, opening).", []string{"state"}, labels),
		failures: prometheus.NewDesc("datastore_pool_timeouts_total", "Connection requests that gave up waiting for a connection.", nil, labels),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.failures
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	open, inUse := c.p.open.Load(), c.p.inUse.Load()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(max(open-inUse, 0)), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(inUse), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, 0, "opening")
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(c.p.waits.Load()))
}
