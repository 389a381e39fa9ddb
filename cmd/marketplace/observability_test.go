package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v4"

	"github.com/marketplace-go/marketplace/deploy/grafana"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgtest"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
)

// rulesFile is the platform's Prometheus rules, from this package.
const rulesFile = "../../deploy/prometheus/rules.yml"

// TestObservabilityOfAJourneyThroughARealPrometheus runs the platform in one
// process with its orders database behind a proxy, drives a buyer's
// journey through the gateway, and then checks what an operator sees:
//
//   - no label of any series carries an id from the journey's paths;
//   - every metric a dashboard panel or a rule queries is exported;
//   - a real Prometheus (Debian's package) scraping the platform counts
//     the orders, payments and revenue the journey made;
//   - with the orders database unreachable (the proxy stopped), the
//     rules' own DatastoreDown alert goes pending (its for: is 1m, so
//     the test accepts pending or firing rather than overriding it).
func TestObservabilityOfAJourneyThroughARealPrometheus(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: `make tools` installs Debian's package")
	}
	pgAddr := mustHostPort(t, pgtest.ServerURL())
	proxy := proxytest.NewProxy(t, pgAddr)
	tag := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	vars := testVars(t, map[string]string{
		"METRICS_ADDR":        "127.0.0.1:0",
		"GATEWAY_RATE_LIMITS": "on",
		"GATEWAY_RATE_PREFIX": "test-obs-" + tag + ":",
	})
	vars["ORDERS_DATABASE_URL"] = viaProxy(t, vars["ORDERS_DATABASE_URL"], proxy.Addr())
	getenv := lookup(vars)
	if err := run(context.Background(), []string{"seed", "--products=1", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	j := observedJourney(t, "http://"+addrs["gateway"])
	metricsURL := "http://" + addrs["metrics"] + "/metrics"
	// The search index follows the catalog's events: once it is
	// searchable, every consumer has handled an event.
	var scrape string
	eventually.NoError(t, "the consumers' lag and the datastores' series are exported", func() error {
		_, scrape = get(t, metricsURL)
		for _, want := range []string{"events_consumer_lag_seconds_bucket", `database="catalog"`, "outbox_backlog_events"} {
			if !strings.Contains(scrape, want) {
				return fmt.Errorf("no %s yet", want)
			}
		}
		return nil
	})

	t.Run("no label carries an id from a path", func(t *testing.T) {
		for _, id := range j.ids {
			if strings.Contains(scrape, id) {
				t.Errorf("the scrape names id %s: %s", id, linesWith(scrape, id))
			}
		}
		if m := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-`).FindString(scrape); m != "" {
			t.Errorf("the scrape holds a UUID: %s", linesWith(scrape, m))
		}
		for _, route := range []string{`route="GET /v1/orders/{id}"`, `route="GET /v1/products/{id}"`, `route="POST /v1/orders/{id}/payment"`} {
			if !strings.Contains(scrape, route) {
				t.Errorf("the scrape has no series for %s", route)
			}
		}
	})

	t.Run("every metric a dashboard or rule queries is exported", func(t *testing.T) {
		exported := exportedNames(scrape)
		recorded, ruleExprs := loadRules(t)
		for _, expr := range append(grafana.Exprs(), ruleExprs...) {
			for _, name := range metricNames(expr) {
				switch {
				case strings.Contains(name, ":"):
					if !recorded[name] {
						t.Errorf("%s in %q is no recording rule of %s", name, expr, rulesFile)
					}
				case name == "up": // Prometheus's own
				case !exported[name]:
					t.Errorf("%s in %q is not exported by the platform", name, expr)
				}
			}
		}
	})

	prom := startPrometheus(t, promBin, addrs["metrics"])
	t.Run("Prometheus counts what the journey did", func(t *testing.T) {
		want := map[string]float64{
			`sum(orders_created_total)`:                           1,
			`sum(orders_paid_total)`:                              1,
			`sum(orders_revenue_minor_total{currency="EUR"})`:     float64(j.revenue),
			`sum(orders_payments_total{outcome="succeeded"})`:     1,
			`sum(orders_payments_total{outcome="declined"})`:      0,
			`sum(orders_stock_outs_total)`:                        1,
			`sum(http_problems_total{code="insufficient_stock"})`: 1,
		}
		for query, value := range want {
			eventually.NoError(t, "Prometheus answers "+query, func() error {
				got, err := prom.scalar(query)
				if err == nil && got != value {
					err = fmt.Errorf("%s = %v, want %v", query, got, value)
				}
				return err
			})
		}
	})

	t.Run("the orders database unreachable raises DatastoreDown", func(t *testing.T) {
		proxy.Stop()
		eventually.NoError(t, "DatastoreDown is pending or firing for the orders database", func() error {
			alerts, err := prom.alerts()
			if err != nil {
				return err
			}
			for _, a := range alerts {
				if a.Labels["alertname"] == "DatastoreDown" && a.Labels["database"] == "orders" && (a.State == "pending" || a.State == "firing") {
					t.Logf("DatastoreDown %s: %v", a.State, a.Labels)
					return nil
				}
			}
			return fmt.Errorf("alerts %+v", alerts)
		})
		proxy.Start(t) // so the platform shuts down cleanly
	})
}

// journeyTrace is what observedJourney did: the ids it put in paths, and
// the revenue it made in EUR cents.
type journeyTrace struct {
	ids     []string
	revenue int64
}

// observedJourney lists a product, and has a buyer put two in the cart,
// check out, pay, read the order, and fail to buy more than is left.
func observedJourney(t *testing.T, gateway string) journeyTrace {
	t.Helper()
	edge := httpxtest.Client{BaseURL: gateway}
	seller := login(t, edge, sellerEmail(1), seedPassword)
	var product struct {
		ID string `json:"id"`
	}
	edge.Do(t, seller, "POST", "/v1/products", map[string]any{"title": "Observed lamp", "description": "Counted.",
		"category": "lamps", "price": map[string]any{"amount": 4500, "currency": "EUR"}, "status": "active"}).
		Want(t, http.StatusCreated).Decode(t, &product)
	edge.Do(t, seller, "PUT", "/v1/stock/"+product.ID, map[string]any{"on_hand": 2}).Want(t, http.StatusOK)
	buyer := signUp(t, edge, "observed-"+uuid.NewString()[:8]+"@example.com")
	edge.Do(t, buyer, "PUT", "/v1/cart/items/"+product.ID, map[string]any{"quantity": 2}).Want(t, http.StatusOK)
	var order struct {
		ID string `json:"id"`
	}
	edge.Do(t, buyer, "POST", "/v1/orders", orderOf()).Want(t, http.StatusCreated).Decode(t, &order)
	edge.Do(t, buyer, "POST", "/v1/orders/"+order.ID+"/payment", map[string]any{"payment_method": "pm_card_visa"}).Want(t, http.StatusOK)
	edge.Do(t, buyer, "GET", "/v1/orders/"+order.ID, nil).Want(t, http.StatusOK)
	edge.Do(t, httpxtest.Anonymous, "GET", "/v1/products/"+product.ID, nil).Want(t, http.StatusOK)
	missing := uuid.NewString()
	edge.Do(t, buyer, "GET", "/v1/orders/"+missing, nil).WantProblem(t, http.StatusNotFound, "order_not_found")
	edge.Do(t, buyer, "POST", "/v1/orders", orderOf(orderLine(product.ID, 1))).
		WantProblem(t, http.StatusConflict, "insufficient_stock")
	return journeyTrace{ids: []string{product.ID, order.ID, missing}, revenue: 2 * 4500}
}

// exportedNames are the metric names of a scrape in the text format.
func exportedNames(scrape string) map[string]bool {
	names := map[string]bool{}
	for line := range strings.Lines(scrape) {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// loadRules returns the names the rules file records and every rule's
// expression.
func loadRules(t *testing.T) (recorded map[string]bool, exprs []string) {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	recorded = map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return recorded, exprs
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promNumbers  = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-zA-Z]*`) // 0.95, 1e3, and durations such as 5m
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring", "group_left", "group_right"}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, groupings and
// numbers are cut out, that are neither function calls nor keywords. The queries here
// are simple enough for this; Prometheus's own parser is a heavy module.
func metricNames(expr string) []string {
	expr = promStrings.ReplaceAllString(expr, `""`)
	expr = promMatchers.ReplaceAllString(expr, " ")
	expr = promGrouping.ReplaceAllString(expr, " ")
	expr = promNumbers.ReplaceAllString(expr, " ")
	var names []string
	for _, m := range promIdent.FindAllStringSubmatch(expr, -1) {
		if m[1] != "" || slices.Contains(promKeywords, strings.ToLower(m[0])) {
			continue
		}
		names = append(names, m[0])
	}
	return names
}

func TestMetricNamesFindsTheSelectedMetricsOnly(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (service, route) (rate(http_requests_total{status=~"5.."}[5m]))`, []string{"http_requests_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m]))) > 0.5 and b offset 5m`, []string{"a_bucket", "b"}},
		{`slo:sli_error:ratio_rate1h{slo="checkout"} > 14.4 * 0.005`, []string{"slo:sli_error:ratio_rate1h"}},
		{`x / on (instance) group_left (job) y unless z == bool 1`, []string{"x", "y", "z"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// linesWith returns the scrape's lines that contain s.
func linesWith(scrape, s string) string {
	var out []string
	for line := range strings.Lines(scrape) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

func mustHostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// promServer is a Prometheus server started by a test.
type promServer struct{ base string }

// startPrometheus runs Prometheus on a free loopback port, its storage in
// a temporary directory, scraping target every second and evaluating the
// platform's rules every second; it stops when the test ends.
func startPrometheus(t *testing.T, bin, target string) promServer {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: marketplace
    static_configs: [{targets: [%q]}]
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := promServer{base: "http://" + addr}
	eventually.NoError(t, "Prometheus is ready and has scraped the platform", func() error {
		v, err := p.scalar(`up{job="marketplace"}`)
		if err == nil && v != 1 {
			err = fmt.Errorf("up = %v", v)
		}
		return err
	})
	return p
}

// api calls Prometheus's HTTP API and decodes its data into v.
func (p promServer) api(path string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(p.base + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %d: %w", path, res.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, v)
}

// scalar runs an instant query whose answer is one sample.
func (p promServer) scalar(query string) (float64, error) {
	var data struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape(query), &data); err != nil {
		return 0, err
	}
	if len(data.Result) != 1 {
		return 0, fmt.Errorf("%s: %d samples", query, len(data.Result))
	}
	s, _ := data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p promServer) alerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := p.api("/api/v1/alerts", &data)
	return data.Alerts, err
}
