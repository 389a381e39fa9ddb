package observability

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DatastoreMetrics are the instruments every datastore client shares
// (PostgreSQL, MongoDB, Redis), told apart by the system and database
// labels: how long operations take, how many fail, and whether the last
// attempt to reach the server worked. Operation labels are bounded names
// (a SQL verb, a Mongo command, a Redis command), never statements or keys.
type DatastoreMetrics struct {
	system, database string
	duration         *prometheus.HistogramVec
	errors           *prometheus.CounterVec
	up               prometheus.Gauge
}

// NewDatastoreMetrics returns the instruments of one client of system
// ("postgresql", "mongodb", "redis") to database (the service's database,
// or the cache's name), registered on reg; several clients share the
// series vectors. A nil reg returns nil, which records nothing.
func NewDatastoreMetrics(reg prometheus.Registerer, system, database string) *DatastoreMetrics {
	if reg == nil {
		return nil
	}
	duration := Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "datastore_operation_duration_seconds",
		Help:    "Time datastore operations took, by system, database and operation (a bounded name such as select or find).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"system", "database", "operation"}))
	errs := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "datastore_operation_errors_total",
		Help: "Datastore operations that failed, by system, database and operation.",
	}, []string{"system", "database", "operation"}))
	up := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "datastore_up",
		Help: "1 when the last attempt to reach the datastore (a connection or a ping) worked, 0 when it failed.",
	}, []string{"system", "database"}))
	m := &DatastoreMetrics{system: system, database: database, duration: duration, errors: errs,
		up: up.WithLabelValues(system, database)}
	m.up.Set(1) // the service opened it before measuring
	return m
}

// Observe records one operation that started at start; err is its outcome.
func (m *DatastoreMetrics) Observe(operation string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(m.system, m.database, operation).Observe(time.Since(start).Seconds())
	// The error series exists, at zero, from the operation's first run.
	errs := m.errors.WithLabelValues(m.system, m.database, operation)
	if err != nil {
		errs.Inc()
	}
}

// Reached records whether the last attempt to reach the server worked.
func (m *DatastoreMetrics) Reached(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.up.Set(1)
	} else {
		m.up.Set(0)
	}
}

// System and Database are the labels of m's series.
func (m *DatastoreMetrics) System() string { return m.system }

// Database is the database label of m's series.
func (m *DatastoreMetrics) Database() string { return m.database }
