package observability

import (
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// HTTPMetrics are the request instruments shared by every service's routes.
type HTTPMetrics struct {
	Requests *prometheus.CounterVec   // by service, route, method, status
	Duration *prometheus.HistogramVec // by service, route, method, status
	InFlight *prometheus.GaugeVec     // by service, route
	Problems *prometheus.CounterVec   // by service, code: the problem answers, by their stable code
}

// NewRegistry returns a registry with the Go runtime and process collectors,
// one per process: in "all" mode the services share it and are told apart by
// their service label.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewHTTPMetrics creates the HTTP instruments and registers them with reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by route and status.",
		}, []string{"service", "route", "method", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time from request start until the handler returned.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"service", "route", "method", "status"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "Requests being served now.",
		}, []string{"service", "route"}),
		Problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_problems_total",
			Help: "Problem (error) answers, by their stable code: one table of codes, so the label is bounded.",
		}, []string{"service", "code"}),
	}
	reg.MustRegister(m.Requests, m.Duration, m.InFlight, m.Problems)
	return m
}

// Register registers c with reg, or returns the equal collector already
// registered there, so that the parts of one process sharing a registry
// (services in "all" mode, relays, limiters, tests) share the series
// instead of panicking.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// Only a programming error gets here: a name clash between
		// metrics of different kinds.
		panic(fmt.Sprintf("register metrics: %v", err))
	}
	return c
}
