// Package internal_test guards the layout rules of ARCHITECTURE.md:
//
//   - a service never imports another service, and the platform never
//     imports a service: services talk to each other only over HTTP and
//     events;
//   - inside a service split into layers, handlers (*api) never import
//     stores (*db), and business code (the service's own package and its
//     other subpackages) imports neither handlers, stores nor wiring
//     (*srv), nor net/http, net/url or a database driver. Business code is
//     rules only: it owns the interfaces that handlers call and stores
//     satisfy;
//   - the web pages (internal/web) have no data of their own: like any
//     client they get it from the public API through the gateway, so they
//     import no service package (the first rule) and no database, cache
//     or broker client.
package internal_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/marketplace-go/marketplace"

// area names the part of the tree a package path belongs to: "platform",
// a service name, or "" for anything outside internal/.
func area(pkgPath string) string {
	rest, ok := strings.CutPrefix(pkgPath, module+"/internal/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// checkImport says why a package in area from may not import path, or nil.
func checkImport(from, path string) error {
	to := area(path)
	switch {
	case from == "web" && slices.ContainsFunc(stores, func(p string) bool { return imports(path, p) }):
		return fmt.Errorf("the web pages import %q: they have no store, and get their data from the API", path)
	case to == "" || to == from || to == "platform" && from != "":
		return nil
	case from == "platform":
		return fmt.Errorf("platform code imports service %q", to)
	default:
		return fmt.Errorf("service %q imports service %q", from, to)
	}
}

// stores are the clients of databases, caches and brokers, which the web
// pages never import.
var stores = []string{
	"github.com/jackc/pgx",
	"go.mongodb.org/mongo-driver",
	"github.com/redis/go-redis",
	"github.com/rabbitmq/amqp091-go",
	module + "/internal/platform/pg",
	module + "/internal/platform/mongo",
	module + "/internal/platform/cache",
	module + "/internal/platform/events",
	module + "/internal/platform/outbox",
}

// layer is the part a package plays inside a service.
type layer int

const (
	business  layer = iota // rules, domain types, the ports it needs
	transport              // *api: HTTP handlers
	store                  // *db, and the adapters below
	wiring                 // *srv: builds and runs the service
	testKit                // *test: helpers for tests
)

// adapters are the packages that, like stores, satisfy a business port by
// talking to the outside world (the products service over HTTP, a payment
// provider). They hold no rules, so the layer rules treat them as stores.
var adapters = map[string]bool{
	"orders/catalog":     true,
	"orders/payment":     true,
	"search/catalog":     true, // the products service's HTTP API, for the search service
	"search/shops":       true, // the users service's read of changed shops, for the search service
	"search/searchindex": true, // the Bleve engine
}

// frontends are the packages that serve pages: like handlers they speak
// HTTP, and they have no business layer or store behind them.
var frontends = map[string]bool{
	"web/storefront": true,
}

// layerOf says the layer of pkg, a package path under internal/ such as
// "orders/orderdb/migrations": that of the service's subpackage it lies in,
// told by its name's ending; the service's own package is business.
func layerOf(pkg string) layer {
	parts := strings.SplitN(pkg, "/", 3)
	if len(parts) < 2 {
		return business
	}
	sub := parts[1]
	switch {
	case frontends[parts[0]+"/"+sub]:
		return transport
	case adapters[parts[0]+"/"+sub], strings.HasSuffix(sub, "db"):
		return store
	case strings.HasSuffix(sub, "api"):
		return transport
	case strings.HasSuffix(sub, "srv"):
		return wiring
	case strings.HasSuffix(sub, "test"):
		return testKit
	}
	return business
}

// transportAndDrivers are what business code never imports: HTTP and URL
// handling belong to handlers, drivers (and the platform's wrappers of
// them) to stores.
var transportAndDrivers = []string{
	"net/http",
	"net/url",
	"github.com/jackc/pgx",
	"go.mongodb.org/mongo-driver",
	module + "/internal/platform/httpx",
	module + "/internal/platform/pg",
	module + "/internal/platform/mongo",
}

// imports says whether path is pkg or one of its subpackages.
func imports(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}

// checkLayer says why from, a package under internal/ of a service split
// into layers (such as "orders/orderapi"), may not import path, or nil.
func checkLayer(from, path string) error {
	to := layer(-1) // outside the service
	if rest, ok := strings.CutPrefix(path, module+"/internal/"); ok && area(path) == area(module+"/internal/"+from) {
		to = layerOf(rest)
	}
	switch layerOf(from) {
	case transport:
		if to == store {
			return fmt.Errorf("handlers %s import store %s: they reach it through the business layer's ports", from, path)
		}
	case business:
		if to == transport || to == store || to == wiring {
			return fmt.Errorf("business package %s imports %s: rules never reach out to handlers, stores or wiring", from, path)
		}
		if i := slices.IndexFunc(transportAndDrivers, func(p string) bool { return imports(path, p) }); i >= 0 {
			return fmt.Errorf("business package %s imports %s: %s belongs to handlers or stores", from, path, transportAndDrivers[i])
		}
	}
	return nil
}

func TestCheckImportAppliesTheLayoutRules(t *testing.T) {
	p := module + "/internal/"
	tests := []struct {
		from, path string
		allowed    bool
	}{
		{"users", p + "users/userdb", true},
		{"users", p + "platform/httpx", true},
		{"users", "github.com/jackc/pgx/v5", true},
		{"users", p + "orders", false},
		{"orders", p + "products/catalog", false},
		{"platform", p + "platform/errs", true},
		{"platform", p + "users", false},
		// The web pages call the API, never a service's code or a store.
		{"web", p + "platform/httpx", true},
		{"web", "html/template", true},
		{"web", p + "orders", false},
		{"web", p + "products/productapi", false},
		{"web", p + "platform/pg", false},
		{"web", p + "platform/events", false},
		{"web", "github.com/jackc/pgx/v5", false},
		{"web", "github.com/redis/go-redis/v9", false},
	}
	for _, tt := range tests {
		if err := checkImport(tt.from, tt.path); (err == nil) != tt.allowed {
			t.Errorf("checkImport(%q, %q) = %v, want allowed=%v", tt.from, tt.path, err, tt.allowed)
		}
	}
}

func TestCheckLayerAppliesTheLayerRules(t *testing.T) {
	p := module + "/internal/"
	tests := []struct {
		from, path string
		allowed    bool
	}{
		// Handlers call the business layer, never a store.
		{"orders/orderapi", p + "orders", true},
		{"orders/orderapi", p + "platform/httpx", true},
		{"orders/orderapi", "net/http", true},
		{"orders/orderapi", p + "orders/orderdb", false},
		{"users/userapi", p + "users/userdb", false},
		{"orders/orderapi", p + "orders/payment", false},
		{"orders/orderapi", p + "orders/orderdb/migrations", false},
		// Business code: rules only.
		{"products", p + "platform/page", true},
		{"products", p + "platform/errs", true},
		{"products", "net/mail", true},
		{"products/seed", p + "products", true},
		{"products", "net/url", false},
		{"products", "net/http", false},
		{"products/seed", "net/http/httptest", false},
		{"orders", "github.com/jackc/pgx/v5", false},
		{"orders", "github.com/jackc/pgx/v5/pgconn", false},
		{"products", "go.mongodb.org/mongo-driver/v2/bson", false},
		{"products", p + "platform/mongo", false},
		{"orders", p + "platform/pg", false},
		{"users", p + "platform/httpx", false},
		{"orders", p + "orders/orderdb", false},
		{"orders", p + "orders/orderapi", false},
		{"orders", p + "orders/ordersrv", false},
		{"orders", p + "orders/catalog", false},
		{"users/tokens", p + "users/userdb", false},
		// Stores, adapters, wiring and test kits may use what they need.
		{"orders/orderdb", "github.com/jackc/pgx/v5", true},
		{"orders/orderdb", p + "orders", true},
		{"orders/catalog", "net/http", true},
		{"orders/payment/stripemocktest", "net/http", true},
		{"orders/ordersrv", p + "orders/orderdb", true},
		{"orders/ordersrv", p + "orders/orderapi", true},
		{"web/storefront", "net/http", true},
		{"web/websrv", p + "web/storefront", true},
	}
	for _, tt := range tests {
		if err := checkLayer(tt.from, tt.path); (err == nil) != tt.allowed {
			t.Errorf("checkLayer(%q, %q) = %v, want allowed=%v", tt.from, tt.path, err, tt.allowed)
		}
	}
}

// violations walks the tree under root, laid out as internal/ is, and
// returns every import that breaks a rule, by file. Test files are held to
// the service rules only: a test may wire a business package to its real
// store, or drive it over HTTP.
func violations(root string) (found []string, areas map[string]bool, err error) {
	files := map[string][]string{} // package path under internal/ -> its files
	err = filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(file, ".go") {
			return err
		}
		rel, err := filepath.Rel(root, file)
		if err != nil {
			return err
		}
		if pkg := path.Dir(filepath.ToSlash(rel)); pkg != "." { // not the files at the root of internal/
			files[pkg] = append(files[pkg], file)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	layered, areas := map[string]bool{}, map[string]bool{}
	for pkg := range files {
		areas[area(module+"/internal/"+pkg)] = true
		if l := layerOf(pkg); l == transport || l == store && !adapters[pkg] || l == wiring {
			layered[area(module+"/internal/"+pkg)] = true
		}
	}
	fset := token.NewFileSet()
	for pkg, list := range files {
		from := area(module + "/internal/" + pkg)
		for _, file := range list {
			f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
			if err != nil {
				return nil, nil, err
			}
			for _, imp := range f.Imports {
				ip, _ := strconv.Unquote(imp.Path.Value)
				err := checkImport(from, ip)
				if err == nil && layered[from] && !strings.HasSuffix(file, "_test.go") {
					err = checkLayer(pkg, ip)
				}
				if err != nil {
					found = append(found, fmt.Sprintf("%s: %v", filepath.ToSlash(file), err))
				}
			}
		}
	}
	slices.Sort(found)
	return found, areas, nil
}

func TestEveryPackageKeepsTheLayoutRules(t *testing.T) {
	found, areas, err := violations(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range found {
		t.Error(v)
	}
	if !areas["platform"] || !areas["users"] || !areas["orders"] || !areas["web"] {
		t.Fatalf("walked %v; the walk missed the tree it guards", areas)
	}
}

// TestTheWalkReportsDeliberateViolations lays out a small tree with one
// violation of each rule, and files that keep them, and checks that the
// walk names exactly the violations.
func TestTheWalkReportsDeliberateViolations(t *testing.T) {
	p := module + "/internal/"
	root := t.TempDir()
	tree := map[string][]string{ // file -> its imports
		"platform/page/page.go":             {"encoding/json"},
		"platform/bad/bad.go":               {p + "users"},
		"users/users.go":                    {p + "platform/page"},
		"users/userapi/api.go":              {"net/http", p + "users"},
		"users/userdb/db.go":                {"github.com/jackc/pgx/v5", p + "users"},
		"orders/orders.go":                  {p + "products"},
		"products/query.go":                 {"net/url"},
		"products/products_test.go":         {"net/url", p + "products/productdb"},
		"products/productapi/api.go":        {p + "products/productdb"},
		"products/productdb/db.go":          {"go.mongodb.org/mongo-driver/v2/mongo"},
		"products/seed/seed.go":             {p + "products/productdb"},
		"gateway/gateway.go":                {"net/http"},
		"products/productsrv/productsrv.go": {p + "products/productapi", p + "products/productdb"},
		"web/storefront/pages.go":           {"net/http", "html/template", p + "platform/httpx"},
		"web/storefront/cart.go":            {p + "orders"},
		"web/storefront/cache.go":           {"github.com/redis/go-redis/v9"},
		"web/websrv/websrv.go":              {p + "web/storefront", p + "platform/config"},
	}
	for file, imps := range tree {
		src := "package " + path.Base(path.Dir(file)) + "\n\nimport (\n"
		for _, imp := range imps {
			src += "\t_ " + strconv.Quote(imp) + "\n"
		}
		writeFile(t, filepath.Join(root, filepath.FromSlash(file)), src+")\n")
	}
	found, _, err := violations(root)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, v := range found {
		file, _, _ := strings.Cut(strings.TrimPrefix(v, filepath.ToSlash(root)+"/"), ":")
		files = append(files, file)
	}
	want := []string{
		"orders/orders.go",           // a service imports another
		"platform/bad/bad.go",        // the platform imports a service
		"products/productapi/api.go", // handlers import a store
		"products/query.go",          // business code parses URLs
		"products/seed/seed.go",      // business code imports a store
		"web/storefront/cache.go",    // the pages keep data of their own
		"web/storefront/cart.go",     // the pages import a service
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("violations (-want +got):\n%s\nall: %q", diff, found)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
