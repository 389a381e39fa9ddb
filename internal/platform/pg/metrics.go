package pg

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// Option changes how Open builds a pool.
type Option func(*options)

type options struct {
	reg  prometheus.Registerer
	name string
	tp   trace.TracerProvider
}

// WithMetrics measures the pool on reg: query latency by SQL verb, failed
// connections (datastore_up), and the pool's own statistics read at scrape
// time, all labelled database=name.
func WithMetrics(reg prometheus.Registerer, name string) Option {
	return func(o *options) { o.reg, o.name = reg, name }
}

// tracer measures queries, batches and connection attempts.
type tracer struct {
	m *observability.DatastoreMetrics
}

type startKey struct{}

type started struct {
	at time.Time
	op string
}

func (t tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, startKey{}, started{at: time.Now(), op: operation(data.SQL)})
}

func (t tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if s, ok := ctx.Value(startKey{}).(started); ok {
		t.m.Observe(s.op, s.at, data.Err)
	}
}

func (t tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, startKey{}, started{at: time.Now(), op: "batch"})
}

func (t tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	if s, ok := ctx.Value(startKey{}).(started); ok {
		t.m.Observe(s.op, s.at, data.Err)
	}
}

func (t tracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return context.WithValue(ctx, startKey{}, started{at: time.Now(), op: "connect"})
}

func (t tracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	if s, ok := ctx.Value(startKey{}).(started); ok {
		t.m.Observe(s.op, s.at, data.Err)
	}
	t.m.Reached(data.Err == nil)
}

// verbs are the operation labels; any other statement is "other", so the
// label stays bounded whatever SQL runs.
var verbs = map[string]bool{"select": true, "insert": true, "update": true, "delete": true, "with": true,
	"begin": true, "commit": true, "rollback": true, "copy": true, "lock": true, "savepoint": true, "release": true}

// operation is the first word of a statement, lower case, if it is a known
// verb.
func operation(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	end := strings.IndexAny(sql, " \t\r\n;(")
	if end < 0 {
		end = len(sql)
	}
	if verb := strings.ToLower(sql[:end]); verbs[verb] {
		return verb
	}
	return "other"
}

// poolCollector reads pool.Stat() when Prometheus scrapes.
type poolCollector struct {
	pool  *pgxpool.Pool
	name  string
	conns *prometheus.Desc
	max   *prometheus.Desc
	waits *prometheus.Desc
	wait  *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool, name string) *poolCollector {
	labels := prometheus.Labels{"system": "postgresql", "database": name}
	return &poolCollector{pool: pool, name: name,
		conns: prometheus.NewDesc("datastore_pool_connections", "Connections of the client's pool, by state (idle, in_use, opening).", []string{"state"}, labels),
		max:   prometheus.NewDesc("datastore_pool_max_connections", "The most connections the client's pool opens.", nil, labels),
		waits: prometheus.NewDesc("datastore_pool_waits_total", "Connection requests that had to wait because every connection was busy.", nil, labels),
		wait:  prometheus.NewDesc("datastore_pool_wait_seconds_total", "Time connection requests spent waiting for a connection.", nil, labels),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.max
	ch <- c.waits
	ch <- c.wait
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.AcquiredConns()), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.ConstructingConns()), "opening")
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.wait, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
}
