package cache

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// Instrument measures a Redis client on reg: command latency by command
// name, failed dials (datastore_up), and the pool's statistics read at
// scrape time, labelled database=name (such as "products" or "ratelimit").
// A nil reg does nothing.
func Instrument(client *redis.Client, reg prometheus.Registerer, name string) {
	m := observability.NewDatastoreMetrics(reg, "redis", name)
	if m == nil {
		return
	}
	client.AddHook(hook{m})
	_ = reg.Register(newPoolCollector(client, name)) // a second client of the same name keeps the first's series
}

// hook measures each command and pipeline, and each dial.
type hook struct {
	m *observability.DatastoreMetrics
}

func (h hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		h.m.Reached(err == nil)
		return conn, err
	}
}

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.m.Observe(command(cmd.Name()), start, failure(err))
		return err
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.m.Observe("pipeline", start, failure(err))
		return err
	}
}

// failure is err unless it is redis.Nil, which is an answer (no such key).
func failure(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// commands are the operation labels; other commands are "other", so the
// label stays bounded.
var commands = map[string]bool{"get": true, "set": true, "del": true, "incr": true, "expire": true, "evalsha": true,
	"eval": true, "mget": true, "ping": true, "exists": true, "hello": true, "script": true, "unlink": true}

func command(name string) string {
	if name = strings.ToLower(name); commands[name] {
		return name
	}
	return "other"
}

// poolCollector reads client.PoolStats() when Prometheus scrapes.
type poolCollector struct {
	client                  *redis.Client
	conns, max, waits, wait *prometheus.Desc
	timeouts                *prometheus.Desc
}

func newPoolCollector(client *redis.Client, name string) *poolCollector {
	labels := prometheus.Labels{"system": "redis", "database": name}
	return &poolCollector{client: client,
		conns:    prometheus.NewDesc("datastore_pool_connections", "Connections of the client's pool, by state (idle, in_use, opening).", []string{"state"}, labels),
		max:      prometheus.NewDesc("datastore_pool_max_connections", "The most connections the client's pool opens.", nil, labels),
		waits:    prometheus.NewDesc("datastore_pool_waits_total", "Connection requests that had to wait because every connection was busy.", nil, labels),
		wait:     prometheus.NewDesc("datastore_pool_wait_seconds_total", "Time connection requests spent waiting for a connection.", nil, labels),
		timeouts: prometheus.NewDesc("datastore_pool_timeouts_total", "Connection requests that gave up waiting for a connection.", nil, labels),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.max, c.waits, c.wait, c.timeouts} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.client.PoolStats()
	idle := float64(s.IdleConns)
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, idle, "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, max(float64(s.TotalConns)-idle, 0), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, 0, "opening")
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(c.client.Options().PoolSize))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.wait, prometheus.CounterValue, time.Duration(s.WaitDurationNs).Seconds())
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.Timeouts))
}
