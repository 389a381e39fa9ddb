package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// rootConfig is the whole configuration, composed of each part's own.
type rootConfig struct {
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	ShutdownDelay   time.Duration
	// MetricsAddr, if set, serves /metrics on a listener of its own; the
	// gateway, which faces clients, serves it nowhere else.
	MetricsAddr string
	// Pprof serves /debug/pprof on the metrics listener (PPROF_ENABLED).
	Pprof bool
	// Limits bound the requests each service module works on at once.
	Limits   server.Limits
	Users    usersrv.Config
	Products productsrv.Config
	Orders   ordersrv.Config
	Search   searchsrv.Config
	Gateway  gateway.Settings
	// EtcdEndpoints is the service registry (ETCD_ENDPOINTS); none means
	// services do not register.
	EtcdEndpoints []string
	// AdvertiseHost is the address other processes reach this one at, as
	// registered in etcd (ADVERTISE_HOST; default the loopback address).
	AdvertiseHost string
	// derived lists the URLs between services that were not configured:
	// in one process they point at the listeners actually bound.
	derived map[string]bool
}

func loadConfig(getenv func(string) (string, bool)) (rootConfig, error) {
	e := config.FromLookup(getenv)
	c := rootConfig{
		ShutdownTimeout: e.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		ShutdownDelay:   e.DurationOrZero("SHUTDOWN_DELAY", 0),
		MetricsAddr:     e.String("METRICS_ADDR", ""),
		Limits:          server.LoadLimits(e),
		Pprof:           e.Bool("PPROF_ENABLED", false),
	}
	if c.Pprof && c.MetricsAddr == "" {
		e.Fail("PPROF_ENABLED", "needs METRICS_ADDR: the profiles are served on the metrics listener only")
	}
	if err := c.LogLevel.UnmarshalText([]byte(e.String("LOG_LEVEL", "info"))); err != nil {
		e.Fail("LOG_LEVEL", "want debug, info, warn or error")
	}
	shared := usersrv.Shared{
		PostgresURL:    e.URL("POSTGRES_URL", "postgres://postgres@localhost:5432/postgres?sslmode=disable", "postgres", "postgresql"),
		DataDir:        e.String("DATA_DIR", "./data"),
		Migrate:        e.Bool("MIGRATE_ON_START", true),
		PublicURL:      e.URL("PUBLIC_URL", "http://localhost:8081", "http", "https"),
		TrustedProxies: trustedProxies(e),
		Issuer:         e.String("AUTH_ISSUER", "marketplace-users"),
		Audience:       e.String("AUTH_AUDIENCE", "marketplace"),
	}
	c.Users = usersrv.LoadConfig(e, shared)
	jwks := e.URL("AUTH_JWKS_URL", "http://localhost:8081/.well-known/jwks.json", "http", "https")
	amqpURL := e.URL("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/", "amqp", "amqps")
	redisURL := e.URL("REDIS_URL", "redis://localhost:6379/0", "redis", "rediss")
	c.Products = productsrv.LoadConfig(e, productsrv.Shared{
		PostgresURL: shared.PostgresURL,
		Issuer:      shared.Issuer,
		Audience:    shared.Audience,
		JWKSURL:     jwks,
		RedisURL:    redisURL,
		AMQPURL:     amqpURL,
	})
	c.Orders = ordersrv.LoadConfig(e, ordersrv.Shared{
		PostgresURL: shared.PostgresURL,
		Migrate:     shared.Migrate,
		Issuer:      shared.Issuer,
		Audience:    shared.Audience,
		JWKSURL:     jwks,
		AMQPURL:     amqpURL,
		ProductsURL: e.URL("ORDERS_PRODUCTS_URL", "http://localhost:8082", "http", "https"),
	})
	c.Search = searchsrv.LoadConfig(e, searchsrv.Shared{
		DataDir:     shared.DataDir,
		ProductsURL: e.URL("SEARCH_PRODUCTS_URL", "http://localhost:8082", "http", "https"),
		AMQPURL:     amqpURL,
		JWKSURL:     jwks,
		Issuer:      shared.Issuer,
		Audience:    shared.Audience,
	})
	c.EtcdEndpoints = strings.FieldsFunc(e.String("ETCD_ENDPOINTS", ""), func(r rune) bool { return r == ',' || r == ' ' })
	c.AdvertiseHost = e.String("ADVERTISE_HOST", "")
	c.Gateway = gateway.LoadSettings(e, jwks, shared.Issuer, shared.Audience, redisURL, c.EtcdEndpoints, shared.TrustedProxies)
	c.derived = map[string]bool{}
	for _, name := range []string{"AUTH_JWKS_URL", "ORDERS_PRODUCTS_URL", "GATEWAY_USERS_URLS", "GATEWAY_PRODUCTS_URLS", "GATEWAY_ORDERS_URLS",
		"SEARCH_PRODUCTS_URL", "GATEWAY_SEARCH_URLS"} {
		if _, set := getenv(name); !set {
			c.derived[name] = true
		}
	}
	if err := e.Err(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

func trustedProxies(e *config.Env) []netip.Prefix {
	var list []netip.Prefix
	for _, s := range strings.FieldsFunc(e.String("TRUSTED_PROXIES", ""), func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			e.Fail("TRUSTED_PROXIES", "want comma-separated CIDR prefixes such as 10.0.0.0/8, got %q", s)
			continue
		}
		list = append(list, p)
	}
	return list
}
