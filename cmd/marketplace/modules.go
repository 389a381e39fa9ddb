package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
	"github.com/marketplace-go/marketplace/internal/web/websrv"
)

// table is the binary's one list of modules. serve (its --target values,
// its --<name>-addr flags, the start order), migrate, the gateway's routes,
// the configuration reference and the README's list of targets all come
// from it: a new service is one entry here plus its own package.
func table() []module {
	return []module{
		{
			name:  "users",
			about: "accounts, sessions, profiles, roles, the token keys (JWKS), the buyers' order confirmation mail",
			addr:  "127.0.0.1:8081",
			routes: []gateway.Route{
				{Prefix: "/v1/auth"}, {Prefix: "/v1/users"}, {Prefix: "/v1/admin"}, {Prefix: "/.well-known/jwks.json"},
			},
			load: service(usersrv.LoadConfig, usersrv.New, usersrv.Migrate),
		},
		{
			name:   "products",
			about:  "the catalog: the category tree, product details and every product write, the event relay",
			addr:   "127.0.0.1:8082",
			routes: []gateway.Route{{Prefix: "/v1/categories"}, {Prefix: "/v1/products"}},
			needs:  []need{jwks()},
			load:   service(productsrv.LoadConfig, productsrv.New, productsrv.Migrate),
		},
		{
			name:  "search",
			about: "the public catalog listing and search, and autocomplete, from an index fed by product events and sellers' shop names",
			addr:  "127.0.0.1:8084",
			// Listing and search; product details and writes stay with
			// products (a route with a method is that one path).
			routes: []gateway.Route{{Prefix: "GET /v1/products"}, {Prefix: "/v1/search"}},
			needs:  []need{jwks(), {module: "products", variable: "SEARCH_PRODUCTS_URL"}, {module: "users", variable: "SEARCH_USERS_URL"}},
			load:   service(searchsrv.LoadConfig, searchsrv.New, searchsrv.Migrate),
		},
		{
			name:  "orders",
			about: "carts, checkout with stock reservations, payments, fulfilment, stock",
			addr:  "127.0.0.1:8083",
			routes: []gateway.Route{
				{Prefix: "/v1/cart"},
				{Prefix: "/v1/orders", Timeout: 30 * time.Second}, // payments wait for the provider
				{Prefix: "/v1/sub-orders"}, {Prefix: "/v1/stock"}, {Prefix: "/v1/payments"},
			},
			needs: []need{jwks(), {module: "products", variable: "ORDERS_PRODUCTS_URL"}},
			load:  service(ordersrv.LoadConfig, ordersrv.New, ordersrv.Migrate),
		},
		{
			name:  "web",
			about: "the storefront's web pages, which call the API through the gateway",
			addr:  "127.0.0.1:8090",
			// Every path no API route takes: the gateway prefers the
			// longer prefixes of the API.
			routes: []gateway.Route{{Prefix: "/"}},
			load:   service(websrv.LoadConfig, websrv.New, nil),
		},
		{
			name:    "gateway",
			about:   "one address for clients: routing, edge token checks, rate limits, the API reference at `/api/`",
			addr:    "127.0.0.1:8080",
			gateway: true,
			needs:   []need{jwks()},
			pages:   []page{{label: "api", path: ""}, {label: "api_reference", path: "/api/"}, {label: "shop", path: "/"}},
			load:    loadGateway,
		},
	}
}

// A module is one service of the binary, as the table declares it.
type module struct {
	name string
	// about says what it serves, in a line, for the README's list of
	// targets and the configuration reference.
	about string
	// addr is the default listen address; <NAME>_ADDR and --<name>-addr
	// change it.
	addr string
	// routes are the public paths the gateway sends to the module; a
	// module with routes registers in the registry, when there is one.
	routes []gateway.Route
	// needs are the URLs of other modules it calls. Those modules start
	// first, and in one process the URLs point at their listeners unless
	// configured.
	needs []need
	// gateway marks the gateway: it routes to every module with routes,
	// needs their instances' URLs and starts after them, and those in its
	// process believe the client address it forwards (it calls them
	// in-process).
	gateway bool
	// pages are what a person opens once the module is ready.
	pages []page
	// load reads the module's configuration, ready to build or migrate.
	load func(source) instance
}

// A need is a URL a module needs of another module.
type need struct {
	module   string // whose listener
	variable string // the variable that configures it
	path     string // added to the listener's base URL
	// viaRegistry needs are found in the registry when there is one.
	viaRegistry bool
}

// jwks is where the modules that check access tokens fetch the users
// module's public keys.
func jwks() need {
	return need{module: "users", variable: "AUTH_JWKS_URL", path: "/.well-known/jwks.json"}
}

// A page is a URL of a module worth opening, named for the ready line.
type page struct{ label, path string }

// source is what a module's configuration is read from.
type source struct {
	env    *config.Env
	shared config.Shared
	// upstreams are the modules the gateway routes to, from the table.
	upstreams []gateway.Upstream
}

// instance is a module with its configuration read.
type instance struct {
	build func(ctx context.Context, addr string, d deps) (server.Module, error)
	// migrate applies its migrations; nil when it has none.
	migrate func(ctx context.Context, log *slog.Logger) error
}

// deps are what the binary hands each module it builds.
type deps struct {
	server.Deps
	// local reaches the modules of this process without a socket.
	local http.RoundTripper
	// etcd is the registry client, nil without a registry.
	etcd *clientv3.Client
}

// runnable is what a service's constructor returns.
type runnable interface {
	Module(addr string) server.Module
}

// service makes a module's load from its package's functions: every
// service has the same three (LoadConfig, New, Migrate), so that one line
// of the table wires it. migrate may be nil.
func service[C any, S runnable](
	load func(*config.Env, config.Shared) C,
	build func(context.Context, C, server.Deps) (S, error),
	migrate func(context.Context, C, *slog.Logger) error,
) func(source) instance {
	return func(src source) instance {
		cfg := load(src.env, src.shared)
		in := instance{build: func(ctx context.Context, addr string, d deps) (server.Module, error) {
			s, err := build(ctx, cfg, d.Deps)
			if err != nil {
				return server.Module{}, err
			}
			return s.Module(addr), nil
		}}
		if migrate != nil {
			in.migrate = func(ctx context.Context, log *slog.Logger) error { return migrate(ctx, cfg, log) }
		}
		return in
	}
}

// loadGateway reads the gateway's settings, with the table's modules as
// its upstreams.
func loadGateway(src source) instance {
	s := gateway.LoadSettings(src.env, src.shared, src.upstreams)
	return instance{build: func(_ context.Context, addr string, d deps) (server.Module, error) {
		// Modules in this process are reached without a socket.
		return gatewayModule(s, addr, d)
	}}
}

// addrVariable is the variable of a module's listen address.
func (m module) addrVariable() string { return envName(m.name) + "_ADDR" }

func envName(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }

// upstreams are the modules of mods the gateway routes to.
func upstreams(mods []module) []gateway.Upstream {
	var ups []gateway.Upstream
	for _, m := range mods {
		if len(m.routes) > 0 {
			ups = append(ups, gateway.Upstream{Name: m.name, Routes: m.routes, URL: "http://" + dialable(m.addr)})
		}
	}
	return ups
}

// allNeeds are m's needs, the gateway's of every module it routes to
// included.
func allNeeds(m module, mods []module) []need {
	needs := slices.Clone(m.needs)
	if m.gateway {
		for _, up := range upstreams(mods) {
			needs = append(needs, need{module: up.Name, variable: gateway.InstancesVariable(up.Name), viaRegistry: true})
		}
	}
	return needs
}

// startOrder returns the modules so that each comes after those it needs,
// otherwise in table order. It fails on a table that names a module twice,
// needs one it lacks, or needs in a circle.
func startOrder(mods []module) ([]module, error) {
	byName := map[string]module{}
	for _, m := range mods {
		if _, dup := byName[m.name]; dup || m.name == "" || m.name == "all" || m.name == "metrics" {
			return nil, fmt.Errorf("module table: name %q is empty, reserved or used twice", m.name)
		}
		byName[m.name] = m
	}
	var (
		order []module
		state = map[string]int{} // 1 visiting, 2 placed
		visit func(m module, path []string) error
	)
	visit = func(m module, path []string) error {
		switch state[m.name] {
		case 1:
			return fmt.Errorf("module table: %s need each other", strings.Join(append(path, m.name), " -> "))
		case 2:
			return nil
		}
		state[m.name] = 1
		for _, n := range allNeeds(m, mods) {
			dep, ok := byName[n.module]
			if !ok {
				return fmt.Errorf("module table: %s needs %s, which is not in the table", m.name, n.module)
			}
			if err := visit(dep, append(path, m.name)); err != nil {
				return err
			}
		}
		state[m.name] = 2
		order = append(order, m)
		return nil
	}
	for _, m := range mods {
		if err := visit(m, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// names are the modules' names, in order.
func names(mods []module) []string {
	out := make([]string, len(mods))
	for i, m := range mods {
		out[i] = m.name
	}
	return out
}
