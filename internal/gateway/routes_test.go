package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// platform is the route table these tests run the gateway with: the
// platform's, as the binary's module table declares it (cmd/marketplace
// checks that table against the API description).
func platform() []gateway.Upstream {
	return []gateway.Upstream{
		{Name: "users", URL: "http://localhost:8081", Routes: []gateway.Route{
			{Prefix: "/v1/auth"}, {Prefix: "/v1/users"}, {Prefix: "/v1/admin"}, {Prefix: "/.well-known/jwks.json"}}},
		{Name: "products", URL: "http://localhost:8082", Routes: []gateway.Route{
			{Prefix: "/v1/categories"}, {Prefix: "/v1/products"}}},
		{Name: "orders", URL: "http://localhost:8083", Routes: []gateway.Route{
			{Prefix: "/v1/cart"}, {Prefix: "/v1/orders", Timeout: 30 * time.Second}, {Prefix: "/v1/sub-orders"},
			{Prefix: "/v1/stock"}, {Prefix: "/v1/payments"}}},
	}
}

// platformRoutes are platform's routes, each naming its service.
func platformRoutes() []gateway.Route {
	var routes []gateway.Route
	for _, up := range platform() {
		for _, r := range up.Routes {
			r.Service = up.Name
			routes = append(routes, r)
		}
	}
	return routes
}

// platformServices are the names of platform's upstreams.
func platformServices() []string {
	var names []string
	for _, up := range platform() {
		names = append(names, up.Name)
	}
	return names
}

func TestTheGatewayRoutesThePathsOfTheTableItIsGiven(t *testing.T) {
	t.Parallel()
	toys := newUpstream(t, "toys")
	e := start(t, map[string][]string{"toys": {toys.URL}}, func(c *gateway.Config, _ *gateway.Deps) {
		c.Routes = []gateway.Route{{Prefix: "/v1/toys", Service: "toys"}}
	})
	var got echo
	e.Do(t, httpxtest.Anonymous, "GET", "/v1/toys/1", nil).Want(t, http.StatusOK).Decode(t, &got)
	if got.Service != "toys" {
		t.Errorf("/v1/toys/1 reached %s", got.Service)
	}
	e.Do(t, httpxtest.Anonymous, "GET", "/v1/users/me", nil).WantProblem(t, http.StatusNotFound, "route_not_found")
}

// TestARouteOfTheRootTakesEveryPathTheOthersLeave: the web pages are
// routed at "/", below every longer prefix, and their paths reach them as
// sent (no redirect of /a to /a/).
func TestARouteOfTheRootTakesEveryPathTheOthersLeave(t *testing.T) {
	t.Parallel()
	toys, pages := newUpstream(t, "toys"), newUpstream(t, "pages")
	e := start(t, map[string][]string{"toys": {toys.URL}, "pages": {pages.URL}}, func(c *gateway.Config, _ *gateway.Deps) {
		c.Routes = []gateway.Route{{Prefix: "/", Service: "pages"}, {Prefix: "/v1/toys", Service: "toys"}}
	})
	tests := []struct{ path, service string }{
		{"/", "pages"}, {"/cart", "pages"}, {"/products/1", "pages"}, {"/search?q=x", "pages"},
		{"/v1/toys", "toys"}, {"/v1/toys/1", "toys"}, {"/v1/toysx", "pages"},
	}
	for _, tt := range tests {
		var got echo
		e.Do(t, httpxtest.Anonymous, "GET", tt.path, nil).Want(t, http.StatusOK).Decode(t, &got)
		if got.Service != tt.service || got.Path != tt.path {
			t.Errorf("GET %s reached %s at %s, want %s at the same path", tt.path, got.Service, got.Path, tt.service)
		}
	}
}

func TestAGatewayWithoutRoutesOrWithoutASourceForOneOrWithAServiceBoundAboveItsOwnIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  gateway.Config
	}{
		{"no routes", gateway.Config{}},
		{"a route to a service with no source", gateway.Config{Routes: []gateway.Route{{Prefix: "/v1/toys", Service: "toys"}}}},
		{"one service may hold every slot of the door", gateway.Config{Routes: []gateway.Route{{Prefix: "/v1/toys", Service: "toys"}},
			Upstreams: map[string]gateway.Source{"toys": discovery.Static("http://127.0.0.1:1")}, MaxPending: 64, MaxInFlight: 64}},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil", tt.name)
		}
	}
}
