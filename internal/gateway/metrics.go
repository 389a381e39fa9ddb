package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// metrics are the gateway's view of its upstreams. Requests and latency per
// route are counted by the server's router, as for every service.
type metrics struct {
	attempts *prometheus.CounterVec   // by service, outcome
	latency  *prometheus.HistogramVec // by service
	retries  *prometheus.CounterVec   // by service
	panicked *prometheus.CounterVec   // by service
	shed     *prometheus.CounterVec   // by service
	queued   *prometheus.GaugeVec     // by service
	breaker  *prometheus.GaugeVec     // by service: 0 closed, 1 half-open, 2 open
	up       *prometheus.GaugeVec     // by service, instance: 1 passes its health checks
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_attempts_total",
			Help: "Requests sent to upstream instances, by service and outcome (status class, or error).",
		}, []string{"upstream", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_duration_seconds",
			Help:    "Time until an upstream instance's response headers arrived.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"upstream"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total",
			Help: "Requests sent again to another instance after a failure.",
		}, []string{"upstream"}),
		panicked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_panic_routed_total",
			Help: "Requests sent to any instance, healthy or not, because fewer than half the service's instances looked healthy.",
		}, []string{"upstream"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_shed_total",
			Help: "Requests answered 503 because the service had as many outstanding as GATEWAY_MAX_PENDING allows and its queue at the gateway was full or its wait ran out.",
		}, []string{"upstream"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_upstream_queued",
			Help: "Requests waiting at the gateway for one of the service's GATEWAY_MAX_PENDING slots.",
		}, []string{"upstream"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_upstream_breaker_state",
			Help: "The upstream's circuit breaker: 0 closed, 1 half-open, 2 open.",
		}, []string{"upstream"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_upstream_instance_up",
			Help: "1 while an instance passes its health checks.",
		}, []string{"upstream", "instance"}),
	}
	if reg != nil {
		m.attempts = observability.Register(reg, m.attempts)
		m.latency = observability.Register(reg, m.latency)
		m.retries = observability.Register(reg, m.retries)
		m.panicked = observability.Register(reg, m.panicked)
		m.shed = observability.Register(reg, m.shed)
		m.queued = observability.Register(reg, m.queued)
		m.breaker = observability.Register(reg, m.breaker)
		m.up = observability.Register(reg, m.up)
	}
	return m
}

func (m *metrics) breakerState(service string, s gobreaker.State) {
	v := map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2}[s]
	m.breaker.WithLabelValues(service).Set(v)
}

func (m *metrics) healthy(service, instance string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(service, instance).Set(v)
}

// forget drops a removed instance's series, so instances that come and go
// under discovery do not pile up.
func (m *metrics) forget(service, instance string) {
	m.up.DeleteLabelValues(service, instance)
}

// upstreamMetrics are one service's series, resolved once rather than
// looked up by label on every request.
type upstreamMetrics struct {
	latency  prometheus.Observer
	retries  prometheus.Counter
	panicked prometheus.Counter
	shed     prometheus.Counter
	queued   prometheus.Gauge
	failed   prometheus.Counter    // attempts that got no answer
	answered [6]prometheus.Counter // attempts by status class: 1xx at 1 to 5xx at 5
}

func (m *metrics) upstream(service string) *upstreamMetrics {
	u := &upstreamMetrics{
		latency:  m.latency.WithLabelValues(service),
		retries:  m.retries.WithLabelValues(service),
		panicked: m.panicked.WithLabelValues(service),
		shed:     m.shed.WithLabelValues(service),
		queued:   m.queued.WithLabelValues(service),
		failed:   m.attempts.WithLabelValues(service, "error"),
	}
	for class := 1; class < len(u.answered); class++ {
		u.answered[class] = m.attempts.WithLabelValues(service, strconv.Itoa(class)+"xx")
	}
	return u
}

// attempt counts one attempt's outcome: its status class, or an error.
func (u *upstreamMetrics) attempt(status int, err error) {
	class := status / 100
	if err != nil || class < 1 || class >= len(u.answered) {
		u.failed.Inc()
		return
	}
	u.answered[class].Inc()
}
