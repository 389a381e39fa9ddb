package gateway_test

import (
	"time"

	"github.com/marketplace-go/marketplace/internal/gateway"
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
