package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/marketplace-go/marketplace/api"
	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

func TestTheModuleTableIsComplete(t *testing.T) {
	mods, err := startOrder(table())
	if err != nil {
		t.Fatal(err)
	}
	gateways := 0
	for _, m := range mods {
		if m.about == "" || m.addr == "" || m.load == nil {
			t.Errorf("module %s lacks a description, an address or a load", m.name)
		}
		if m.gateway {
			gateways++
		}
	}
	if gateways != 1 {
		t.Errorf("%d gateway modules, want 1", gateways)
	}
	if got, want := names(mods), []string{"users", "products", "search", "orders", "web", "gateway"}; !slices.Equal(got, want) {
		t.Errorf("start order %v, want %v: each module after those it calls", got, want)
	}
}

func TestStartOrderRefusesABrokenTable(t *testing.T) {
	mod := func(name string, needs ...string) module {
		m := module{name: name}
		for _, n := range needs {
			m.needs = append(m.needs, need{module: n, variable: "X"})
		}
		return m
	}
	tests := []struct {
		name string
		mods []module
		want string
	}{
		{"a module named twice", []module{mod("a"), mod("a")}, `"a"`},
		{"a module named all", []module{mod("all")}, `"all"`},
		{"a need of a module not in the table", []module{mod("a", "b")}, "a needs b"},
		{"needs in a circle", []module{mod("a", "b"), mod("b", "c"), mod("c", "a")}, "a -> b -> c -> a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := startOrder(tt.mods); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("startOrder = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestEveryServicePackageIsInTheModuleTable: a service is a directory of
// internal/ with a <name>srv package, and each must have its entry.
func TestEveryServicePackageIsInTheModuleTable(t *testing.T) {
	srvs, err := filepath.Glob("../../internal/*/*srv")
	if err != nil || len(srvs) == 0 {
		t.Fatalf("no service packages under internal/ (%v)", err)
	}
	for _, dir := range srvs {
		service := filepath.Base(filepath.Dir(dir))
		m, ok := moduleNamed(table(), service)
		if !ok {
			t.Errorf("%s has no entry in the module table (cmd/marketplace/modules.go)", dir)
			continue
		}
		// A service package that migrates must be migrated by `migrate`.
		if exportsMigrate(t, dir) && loadDefaults(t, table()).modules[m.name].migrate == nil {
			t.Errorf("%s has a Migrate, but the table gives module %s no migrations", dir, m.name)
		}
	}
}

func moduleNamed(mods []module, name string) (module, bool) {
	i := slices.IndexFunc(mods, func(m module) bool { return m.name == name })
	if i < 0 {
		return module{}, false
	}
	return mods[i], true
}

func exportsMigrate(t *testing.T, dir string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, "_test.go") && bytes.Contains(b, []byte("\nfunc Migrate(")) {
			return true
		}
	}
	return false
}

func loadDefaults(t *testing.T, mods []module) loaded {
	t.Helper()
	cfg, err := loadAll(lookup(nil), mods)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestEveryDocumentedPathIsRoutedToAModule: the gateway's routes are the
// table's, so an operation of the API description that no module's
// routes cover would not reach a service; and a route that covers no
// documented operation is a module's route gone stale. A route with a
// method ("GET /v1/products") takes that method on its one path ahead of a
// route of the path without one, as the gateway's router does.
func TestEveryDocumentedPathIsRoutedToAModule(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	routes := upstreams(table())
	covered := map[string]bool{}
	for path, item := range doc.Paths {
		if servedByEveryListener(path) || strings.HasPrefix(path, "/api/") { // the gateway's own
			continue
		}
		for method := range item {
			if method == "parameters" {
				continue
			}
			by, prefix := routedTo(routes, strings.ToUpper(method), path)
			if len(by) != 1 {
				t.Errorf("%s %s is routed to %v, want exactly one module (routes in cmd/marketplace/modules.go)", method, path, by)
				continue
			}
			covered[prefix] = true
		}
	}
	for _, up := range routes {
		for _, r := range up.Routes {
			if !covered[r.Prefix] && r.Prefix != "/" { // "/": the web pages, every path the API leaves
				t.Errorf("module %s routes %s, where the API description has no operation", up.Name, r.Prefix)
			}
		}
	}
}

// routedTo names the modules whose routes take method on path, the
// routes with a method first, and the prefix of the route taken.
func routedTo(routes []gateway.Upstream, method, path string) (modules []string, prefix string) {
	for _, exact := range []bool{true, false} {
		for _, up := range routes {
			for _, r := range up.Routes {
				m, p, hasMethod := strings.Cut(r.Prefix, " ")
				if !hasMethod {
					m, p = "", r.Prefix
				}
				if hasMethod != exact {
					continue
				}
				if hasMethod && (m == method || m == "GET" && method == "HEAD") && p == path ||
					!hasMethod && (path == p || strings.HasPrefix(path, p+"/")) {
					modules, prefix = append(modules, up.Name), r.Prefix
				}
			}
		}
		if len(modules) > 0 {
			return modules, prefix
		}
	}
	return nil, ""
}

// servedByEveryListener are the paths the server adds to every module.
func servedByEveryListener(path string) bool {
	return slices.Contains([]string{"/healthz", "/readyz", "/metrics"}, path) || strings.HasPrefix(path, "/debug/pprof/")
}

// TestEveryModuleIsInEveryPlace: what the table derives, it derives for
// each module: the flag, --target's values, the usage, the README's list,
// the configuration reference and, for modules with routes, the gateway.
func TestEveryModuleIsInEveryPlace(t *testing.T) {
	checkListed(t, table())
}

// checkListed checks each module of mods is in every place the table
// feeds.
func checkListed(t *testing.T, mods []module) {
	t.Helper()
	b := binary{modules: mods, getenv: lookup(nil), out: io.Discard}
	flags := newServeFlags(b, mods)
	ref, err := configReference(mods)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := targetsList(mods)
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.LoadSettings(config.FromLookup(lookup(nil)), config.Shared{}, upstreams(mods))
	for _, m := range mods {
		if flags.fs.Lookup(m.name+"-addr") == nil {
			t.Errorf("serve has no --%s-addr", m.name)
		}
		if chosen, err := parseTargets(m.name, mods); err != nil || len(chosen) != 1 {
			t.Errorf("--target=%s: %v", m.name, err)
		}
		if !strings.Contains(b.usage(), m.name) || !strings.Contains(flags.fs.Lookup("target").Usage, m.name) {
			t.Errorf("the usage or --target's help does not list %s", m.name)
		}
		if !strings.Contains(targets, "| `"+m.name+"` |") {
			t.Errorf("the README's list of targets lacks %s:\n%s", m.name, targets)
		}
		if !strings.Contains(string(ref), "## Module `"+m.name+"`") || !strings.Contains(string(ref), "`"+m.addrVariable()+"`") {
			t.Errorf("the configuration reference has no section for %s, or not its %s", m.name, m.addrVariable())
		}
		if len(m.routes) > 0 && len(gw.Instances[m.name]) == 0 {
			t.Errorf("the gateway has no instances of %s", m.name)
		}
	}
}

func TestTheConfigurationReferenceIsWhatTheCodeProduces(t *testing.T) {
	want, err := configReference(table())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/configuration.md differs from what the configuration code produces: run `%s`\n%s", regenerate, firstDifference(got, want))
	}
}

func TestTheReadmeListsTheTargetsOfTheTable(t *testing.T) {
	got, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := withTargets(got, table())
	if err != nil {
		t.Fatalf("README.md: %v (run `%s` once the markers are back)", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("README.md's list of targets differs from the module table: run `%s`\n%s", regenerate, firstDifference(got, want))
	}
}

// firstDifference shows the first line where got and want part.
func firstDifference(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  file: %s\n  code: %s", i+1, gl, wl)
		}
	}
	return ""
}

func TestAVariableWithoutADescriptionStopsTheReference(t *testing.T) {
	mods := append(table(), module{name: "quiet", about: "reads a variable it does not describe", addr: ":0",
		load: func(src source) instance { src.env.String("QUIET_LEVEL", "low"); return instance{} }})
	if _, err := configReference(mods); err == nil || !strings.Contains(err.Error(), "QUIET_LEVEL") {
		t.Errorf("configReference = %v, want an error naming QUIET_LEVEL", err)
	}
}

// toys is a module of the tests: it answers GET /v1/toys with its
// greeting and the users URL it was given.
type toys struct{ cfg toyConfig }

type toyConfig struct{ Greeting, UsersURL string }

func loadToys(e *config.Env, _ config.Shared) toyConfig {
	e.Describe(config.Docs{"TOYS_GREETING": "what the toys say", "TOYS_USERS_URL": "the users module"})
	return toyConfig{Greeting: e.String("TOYS_GREETING", "hello"), UsersURL: e.URL("TOYS_USERS_URL", "http://localhost:8081", "http")}
}

func newToys(_ context.Context, cfg toyConfig, _ server.Deps) (*toys, error) {
	return &toys{cfg: cfg}, nil
}

func (ts *toys) Module(addr string) server.Module {
	return server.Module{Name: "toys", Addr: addr, Routes: func(rt *httpx.Router) {
		rt.HandleFunc("GET /v1/toys", func(w http.ResponseWriter, r *http.Request) {
			httpx.JSON(w, http.StatusOK, map[string]string{"greeting": ts.cfg.Greeting, "users_url": ts.cfg.UsersURL})
		})
	}}
}

// toyModule is the toys' entry in the table; migrated counts its
// migrations.
func toyModule(migrated *atomic.Int32) module {
	return module{
		name:   "toys",
		about:  "a module of the tests",
		addr:   "127.0.0.1:0",
		routes: []gateway.Route{{Prefix: "/v1/toys"}},
		needs:  []need{{module: "users", variable: "TOYS_USERS_URL"}},
		load: service(loadToys, newToys, func(context.Context, toyConfig, *slog.Logger) error {
			migrated.Add(1)
			return nil
		}),
	}
}

// TestAModuleAddedToTheTableAloneIsServedMigratedRoutedAndListed adds the
// toys to the table, and nothing else, then runs the binary over it.
func TestAModuleAddedToTheTableAloneIsServedMigratedRoutedAndListed(t *testing.T) {
	t.Parallel()
	var migrated atomic.Int32
	mods := append(table(), toyModule(&migrated))
	getenv := testEnv(t, map[string]string{"TOYS_GREETING": "squeak"})
	b := binary{modules: mods, getenv: getenv, out: io.Discard}

	t.Run("listed", func(t *testing.T) { checkListed(t, mods) })
	t.Run("migrated", func(t *testing.T) {
		if err := b.run(context.Background(), []string{"migrate"}); err != nil {
			t.Fatal(err)
		}
		if n := migrated.Load(); n != 1 {
			t.Errorf("migrate ran the toys' migrations %d times, want once", n)
		}
	})
	t.Run("served and routed by the gateway", func(t *testing.T) {
		addrs, stop := startBinary(t, b)
		for _, base := range []string{"http://" + addrs["toys"], "http://" + addrs["gateway"]} {
			status, body := get(t, base+"/v1/toys")
			var got map[string]string
			if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil {
				t.Fatalf("GET %s/v1/toys = %d %s", base, status, body)
			}
			// The URL it needs of users points at the listener bound.
			if got["greeting"] != "squeak" || got["users_url"] != "http://"+addrs["users"] {
				t.Errorf("GET %s/v1/toys = %v, want the greeting squeak and the users URL http://%s", base, got, addrs["users"])
			}
		}
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
}

// TestServeSaysReadyOnceWithTheURLsToOpen: `make run` ends its start with
// one line saying every module is ready, with the gateway's API, its
// reference page and the metrics.
func TestServeSaysReadyOnceWithTheURLsToOpen(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	out := &lines{match: `"msg":"ready"`, matched: make(chan string, 1)}
	b := binary{modules: table(), getenv: testEnv(t, map[string]string{"LOG_LEVEL": "info", "METRICS_ADDR": "127.0.0.1:0"}), out: out}
	addrs, stop := startBinary(t, b)
	var line string
	select {
	case line = <-out.matched:
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line within 30s of listening")
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"api":           "http://" + addrs["gateway"],
		"api_reference": "http://" + addrs["gateway"] + "/api/",
		"metrics":       "http://" + addrs["metrics"] + "/metrics",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ready line %s = %q, want %q (line %s)", k, got[k], v, line)
		}
	}
	if status, _ := get(t, want["api_reference"]); status != http.StatusOK {
		t.Errorf("GET %s = %d", want["api_reference"], status)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
	if n := out.count(); n != 1 {
		t.Errorf("%d ready lines, want one", n)
	}
}

// lines is a log output that hands over the first line containing match
// and counts those that do.
type lines struct {
	match   string
	matched chan string
	mu      sync.Mutex
	n       int
}

func (l *lines) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if !strings.Contains(line, l.match) {
			continue
		}
		l.mu.Lock()
		l.n++
		l.mu.Unlock()
		select {
		case l.matched <- line:
		default:
		}
	}
	return len(p), nil
}

func (l *lines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
