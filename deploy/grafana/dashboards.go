// Package grafana defines the platform's Grafana dashboards as code: each
// panel's PromQL lives here, the JSON files beside this package are
// generated from it (go generate ./deploy/grafana, or make dashboards),
// and tests check that the files are current and that every metric a
// query names is one the platform exports.
package grafana

//go:generate go run ./gen

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Dashboard is one Grafana dashboard.
type Dashboard struct {
	UID    string
	Title  string
	Panels []Panel
}

// Panel is one time-series (or stat) panel with its queries.
type Panel struct {
	Title   string
	Unit    string // a Grafana unit: reqps, s, percentunit, short, bytes, currency
	Stat    bool   // a single number rather than a graph
	Queries []Query
}

// Query is one PromQL expression and its legend.
type Query struct {
	Expr   string
	Legend string
}

// svcRoute groups the RED panels: per service and route template.
const svcRoute = "service, route"

// All returns every dashboard of the platform.
func All() []Dashboard {
	return []Dashboard{overview(), checkout(), catalog(), eventsOutbox(), datastores(), runtime()}
}

func overview() Dashboard {
	return Dashboard{UID: "marketplace-overview", Title: "Marketplace / Platform overview", Panels: []Panel{
		{Title: "Requests per second by service and route", Unit: "reqps", Queries: []Query{
			{`sum by (` + svcRoute + `) (rate(http_requests_total[5m]))`, "{{service}} {{route}}"}}},
		{Title: "Server errors (5xx) ratio by service and route", Unit: "percentunit", Queries: []Query{
			{`sum by (` + svcRoute + `) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (` + svcRoute + `) (rate(http_requests_total[5m]))`, "{{service}} {{route}}"}}},
		{Title: "Latency p95 by service and route", Unit: "s", Queries: []Query{
			{`histogram_quantile(0.95, sum by (` + svcRoute + `, le) (rate(http_request_duration_seconds_bucket[5m])))`, "{{service}} {{route}}"}}},
		{Title: "Latency p50 by service", Unit: "s", Queries: []Query{
			{`histogram_quantile(0.5, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m])))`, "{{service}}"}}},
		{Title: "Problems by code", Unit: "reqps", Queries: []Query{
			{`sum by (service, code) (rate(http_problems_total[5m]))`, "{{service}} {{code}}"}}},
		{Title: "Requests in flight and queued", Unit: "short", Queries: []Query{
			{`sum by (service) (http_requests_in_flight)`, "in flight {{service}}"},
			{`sum by (service) (http_requests_queued)`, "queued {{service}}"}}},
		{Title: "Requests shed", Unit: "reqps", Queries: []Query{
			{`sum by (service, reason) (rate(http_requests_shed_total[5m]))`, "{{service}} {{reason}}"}}},
		{Title: "Gateway upstream attempts by outcome", Unit: "reqps", Queries: []Query{
			{`sum by (upstream, outcome) (rate(gateway_upstream_attempts_total[5m]))`, "{{upstream}} {{outcome}}"}}},
		{Title: "Gateway breakers (0 closed, 1 half-open, 2 open)", Unit: "short", Queries: []Query{
			{`max by (upstream) (gateway_upstream_breaker_state)`, "{{upstream}}"}}},
		{Title: "Gateway rate-limit decisions", Unit: "reqps", Queries: []Query{
			{`sum by (class, result) (rate(gateway_ratelimit_decisions_total[5m]))`, "{{class}} {{result}}"}}},
	}}
}

func checkout() Dashboard {
	return Dashboard{UID: "marketplace-checkout", Title: "Marketplace / Checkout funnel and payments", Panels: []Panel{
		{Title: "Funnel: carts filled, orders placed, orders paid (per minute)", Unit: "short", Queries: []Query{
			{`sum(rate(http_requests_total{service="orders",route="PUT /v1/cart/items/{product_id}",status="200"}[5m])) * 60`, "items put in carts"},
			{`sum(rate(orders_created_total[5m])) * 60`, "orders placed"},
			{`sum(rate(orders_paid_total[5m])) * 60`, "orders paid"}}},
		{Title: "Orders paid / placed", Unit: "percentunit", Stat: true, Queries: []Query{
			{`sum(increase(orders_paid_total[1h])) / sum(increase(orders_created_total[1h]))`, "paid / placed, 1h"}}},
		{Title: "Payments by provider and outcome", Unit: "short", Queries: []Query{
			{`sum by (provider, outcome) (rate(orders_payments_total[5m])) * 60`, "{{provider}} {{outcome}}"}}},
		{Title: "Revenue per hour by currency (major units)", Unit: "short", Queries: []Query{
			{`sum by (currency) (increase(orders_revenue_minor_total[1h])) / 100`, "{{currency}}"}}},
		{Title: "Stock-outs and expired reservations (per hour)", Unit: "short", Queries: []Query{
			{`sum(increase(orders_stock_outs_total[1h]))`, "checkouts refused for stock"},
			{`sum(increase(orders_reservations_expired_total[1h]))`, "reservations expired"}}},
		{Title: "Refunds by outcome (per hour)", Unit: "short", Queries: []Query{
			{`sum by (outcome) (increase(orders_refunds_total[1h]))`, "{{outcome}}"}}},
		{Title: "Payments waiting on the provider", Unit: "short", Queries: []Query{
			// max, not sum: every orders instance reads the same database.
			{`max(orders_payments_processing)`, "charges processing"},
			{`max(orders_payments_processing_oldest_seconds)`, "oldest charge (s)"},
			{`max(orders_refunds_pending)`, "refunds pending"},
			{`max(orders_refunds_pending_oldest_seconds)`, "oldest refund (s)"},
			{`max by (kind) (orders_payments_unreconciled)`, "{{kind}}s to reconcile by hand"}}},
		{Title: "Checkout SLO: error ratio (1h) against the budget", Unit: "percentunit", Queries: []Query{
			{`slo:sli_error:ratio_rate1h{slo="checkout"}`, "{{sli}}"}}},
	}}
}

func catalog() Dashboard {
	return Dashboard{UID: "marketplace-catalog", Title: "Marketplace / Catalog and search", Panels: []Panel{
		{Title: "Catalog and search requests by route", Unit: "reqps", Queries: []Query{
			{`sum by (` + svcRoute + `) (rate(http_requests_total{service=~"products|search"}[5m]))`, "{{service}} {{route}}"}}},
		{Title: "Catalog and search latency p99", Unit: "s", Queries: []Query{
			{`histogram_quantile(0.99, sum by (` + svcRoute + `, le) (rate(http_request_duration_seconds_bucket{service=~"products|search"}[5m])))`, "{{service}} {{route}}"}}},
		{Title: "Cache hit ratio", Unit: "percentunit", Queries: []Query{
			{`sum by (cache) (rate(cache_hits_total[5m])) / (sum by (cache) (rate(cache_hits_total[5m])) + sum by (cache) (rate(cache_misses_total[5m])))`, "{{cache}}"}}},
		{Title: "Cache errors", Unit: "reqps", Queries: []Query{
			{`sum by (cache) (rate(cache_errors_total[5m]))`, "{{cache}}"}}},
		{Title: "Search index lag", Unit: "s", Queries: []Query{
			{`max(search_index_last_lag_seconds)`, "last event"},
			{`histogram_quantile(0.95, sum by (le) (rate(search_index_lag_seconds_bucket[5m])))`, "p95"}}},
		{Title: "Products in the search index", Unit: "short", Queries: []Query{
			{`max(search_index_products)`, "products"}}},
		{Title: "Product reads and search SLOs: error ratio (1h)", Unit: "percentunit", Queries: []Query{
			{`slo:sli_error:ratio_rate1h{slo=~"product-reads|search"}`, "{{slo}} {{sli}}"}}},
	}}
}

func eventsOutbox() Dashboard {
	return Dashboard{UID: "marketplace-events", Title: "Marketplace / Events and outbox", Panels: []Panel{
		{Title: "Events published by type", Unit: "short", Queries: []Query{
			{`sum by (type) (rate(events_published_total[5m])) * 60`, "{{type}}"}}},
		{Title: "Events consumed by queue", Unit: "short", Queries: []Query{
			{`sum by (queue) (rate(events_consumed_total[5m])) * 60`, "{{queue}}"}}},
		{Title: "Consumer lag p90 by queue", Unit: "s", Queries: []Query{
			{`histogram_quantile(0.9, sum by (queue, le) (rate(events_consumer_lag_seconds_bucket[5m])))`, "{{queue}}"},
			{`max by (queue) (events_consumer_last_lag_seconds)`, "{{queue}} last"}}},
		{Title: "Handler failures and dead-lettered messages", Unit: "short", Queries: []Query{
			{`sum by (queue) (increase(events_handler_failures_total[5m]))`, "failed {{queue}}"},
			{`sum by (queue, reason) (increase(events_dead_lettered_total[5m]))`, "dead-lettered {{queue}} {{reason}}"}}},
		{Title: "Publish failures and unroutable events", Unit: "short", Queries: []Query{
			{`sum by (type) (increase(events_publish_failures_total[5m]))`, "failed {{type}}"},
			{`sum by (type) (increase(events_unroutable_total[5m]))`, "unroutable {{type}}"}}},
		{Title: "Outbox backlog", Unit: "short", Queries: []Query{
			{`max by (outbox) (outbox_backlog_events)`, "{{outbox}}"}}},
		{Title: "Oldest event waiting in the outbox", Unit: "s", Queries: []Query{
			{`max by (outbox) (outbox_oldest_event_age_seconds)`, "{{outbox}}"}}},
		{Title: "Outbox relay: delay p95 and throughput", Unit: "s", Queries: []Query{
			{`histogram_quantile(0.95, sum by (outbox, le) (rate(outbox_relay_delay_seconds_bucket[5m])))`, "delay {{outbox}}"},
			{`sum by (outbox) (rate(outbox_events_relayed_total[5m]))`, "relayed/s {{outbox}}"},
			{`sum by (outbox) (rate(outbox_relay_failures_total[5m]))`, "failures/s {{outbox}}"}}},
	}}
}

func datastores() Dashboard {
	return Dashboard{UID: "marketplace-datastores", Title: "Marketplace / Datastores", Panels: []Panel{
		{Title: "Datastore up", Unit: "short", Queries: []Query{
			{`min by (system, database) (datastore_up)`, "{{system}} {{database}}"}}},
		{Title: "Operation latency p95", Unit: "s", Queries: []Query{
			{`histogram_quantile(0.95, sum by (system, database, operation, le) (rate(datastore_operation_duration_seconds_bucket[5m])))`, "{{system}} {{database}} {{operation}}"}}},
		{Title: "Operations per second", Unit: "ops", Queries: []Query{
			{`sum by (system, database, operation) (rate(datastore_operation_duration_seconds_count[5m]))`, "{{system}} {{database}} {{operation}}"}}},
		{Title: "Operation errors", Unit: "ops", Queries: []Query{
			{`sum by (system, database, operation) (rate(datastore_operation_errors_total[5m]))`, "{{system}} {{database}} {{operation}}"}}},
		{Title: "Pool connections by state", Unit: "short", Queries: []Query{
			{`sum by (system, database, state) (datastore_pool_connections)`, "{{system}} {{database}} {{state}}"},
			{`sum by (system, database) (datastore_pool_max_connections)`, "{{system}} {{database}} max"}}},
		{Title: "Pool waits", Unit: "short", Queries: []Query{
			{`sum by (system, database) (rate(datastore_pool_waits_total[5m]))`, "waits/s {{system}} {{database}}"},
			{`sum by (system, database) (rate(datastore_pool_wait_seconds_total[5m]))`, "wait s/s {{system}} {{database}}"},
			{`sum by (system, database) (rate(datastore_pool_timeouts_total[5m]))`, "timeouts/s {{system}} {{database}}"}}},
	}}
}

func runtime() Dashboard {
	return Dashboard{UID: "marketplace-runtime", Title: "Marketplace / Go runtime", Panels: []Panel{
		{Title: "CPU", Unit: "short", Queries: []Query{
			{`rate(process_cpu_seconds_total[5m])`, "{{instance}}"}}},
		{Title: "Resident memory", Unit: "bytes", Queries: []Query{
			{`process_resident_memory_bytes`, "{{instance}}"}}},
		{Title: "Heap in use", Unit: "bytes", Queries: []Query{
			{`go_memstats_heap_inuse_bytes`, "{{instance}}"}}},
		{Title: "Goroutines", Unit: "short", Queries: []Query{
			{`go_goroutines`, "{{instance}}"}}},
		{Title: "GC pause p99 (summary quantile 1)", Unit: "s", Queries: []Query{
			{`go_gc_duration_seconds{quantile="1"}`, "{{instance}}"}}},
		{Title: "Open file descriptors", Unit: "short", Queries: []Query{
			{`process_open_fds`, "{{instance}}"}}},
	}}
}

// JSON renders d as a Grafana dashboard (schema 39) whose panels query the
// data source chosen in its ${datasource} variable, two panels a row.
func (d Dashboard) JSON() ([]byte, error) {
	ds := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	panels := make([]any, 0, len(d.Panels))
	for i, p := range d.Panels {
		targets := make([]any, 0, len(p.Queries))
		for j, q := range p.Queries {
			targets = append(targets, map[string]any{"datasource": ds, "expr": q.Expr, "legendFormat": q.Legend,
				"refId": string(rune('A' + j))})
		}
		typ := "timeseries"
		if p.Stat {
			typ = "stat"
		}
		panels = append(panels, map[string]any{
			"id": i + 1, "type": typ, "title": p.Title, "datasource": ds,
			"gridPos":     map[string]int{"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}},
			"targets":     targets,
		})
	}
	b, err := json.MarshalIndent(map[string]any{
		"uid": d.UID, "title": d.Title, "schemaVersion": 39, "version": 1, "editable": true,
		"tags": []string{"marketplace"}, "time": map[string]string{"from": "now-6h", "to": "now"}, "refresh": "30s",
		"templating": map[string]any{"list": []any{map[string]any{
			"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"}}},
		"panels": panels,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return append(b, '\n'), nil
}

// File is the name of d's JSON file in deploy/grafana.
func (d Dashboard) File() string { return strings.TrimPrefix(d.UID, "marketplace-") + ".json" }

// Exprs returns every query of every dashboard.
func Exprs() []string {
	var out []string
	for _, d := range All() {
		for _, p := range d.Panels {
			for _, q := range p.Queries {
				out = append(out, q.Expr)
			}
		}
	}
	return out
}
