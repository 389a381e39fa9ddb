package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/api"
	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// targets are the services serve can run; "all" means every one of them.
// They start in this order, each before those that call it.
var targets = []string{"users", "products", "orders", "gateway"}

func serve(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer, ready func(map[string]string)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	target := fs.String("target", "all", "services to run: all, or a comma-separated list of "+strings.Join(targets, ", "))
	fs.StringVar(&cfg.Users.Addr, "users-addr", cfg.Users.Addr, "listen address of the users service (USERS_ADDR)")
	fs.StringVar(&cfg.Products.Addr, "products-addr", cfg.Products.Addr, "listen address of the products service (PRODUCTS_ADDR)")
	fs.StringVar(&cfg.Orders.Addr, "orders-addr", cfg.Orders.Addr, "listen address of the orders service (ORDERS_ADDR)")
	fs.StringVar(&cfg.Gateway.Addr, "gateway-addr", cfg.Gateway.Addr, "listen address of the API gateway (GATEWAY_ADDR)")
	noMigrate := fs.Bool("no-migrate", !cfg.Users.Migrate, "do not apply migrations on start (MIGRATE_ON_START=false)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Users.Migrate = !*noMigrate
	cfg.Orders.Migrate = !*noMigrate
	chosen, err := parseTargets(*target)
	if err != nil {
		return err
	}
	log := observability.NewLogger(out, cfg.LogLevel)
	reg := observability.NewRegistry()
	srv := server.New(log, reg, cfg.ShutdownTimeout)
	srv.SetDrainDelay(cfg.ShutdownDelay)
	addrs, err := startModules(ctx, cfg, chosen, log, reg, srv)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(addrs)
	}
	return srv.Run(ctx)
}

func parseTargets(s string) ([]string, error) {
	want := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "all":
			for _, name := range targets {
				want[name] = true
			}
		case slices.Contains(targets, t):
			want[t] = true
		default:
			return nil, fmt.Errorf("--target: unknown service %q (want all or %s)", t, strings.Join(targets, ", "))
		}
	}
	var chosen []string
	for _, name := range targets {
		if want[name] {
			chosen = append(chosen, name)
		}
	}
	return chosen, nil
}

// startModules builds each chosen service and binds its listener. On error
// the modules already built are closed.
func startModules(ctx context.Context, cfg rootConfig, chosen []string, log *slog.Logger, reg prometheus.Registerer, srv *server.Server) (map[string]string, error) {
	addrs := map[string]string{}
	var built []server.Module
	fail := func(err error) (map[string]string, error) {
		for _, m := range built {
			m.Close()
		}
		return nil, err
	}
	for _, name := range chosen {
		m, err := buildModule(ctx, cfg, name, log, reg)
		if err != nil {
			return fail(err)
		}
		built = append(built, m)
		addr, err := srv.Add(m)
		if err != nil {
			return fail(err)
		}
		addrs[name] = addr.String()
		cfg.pointAt(name, addr)
	}
	return addrs, nil
}

func buildModule(ctx context.Context, cfg rootConfig, name string, log *slog.Logger, reg prometheus.Registerer) (server.Module, error) {
	switch name {
	case "products":
		p, err := productsrv.New(ctx, cfg.Products, log, reg)
		if err != nil {
			return server.Module{}, err
		}
		return p.Module(cfg.Products.Addr), nil
	case "users":
		u, err := usersrv.New(ctx, cfg.Users, log)
		if err != nil {
			return server.Module{}, err
		}
		return u.Module(cfg.Users.Addr), nil
	case "orders":
		o, err := ordersrv.New(ctx, cfg.Orders, log, reg, nil)
		if err != nil {
			return server.Module{}, err
		}
		return o.Module(cfg.Orders.Addr), nil
	case "gateway":
		gw := cfg.Gateway
		verifier := auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: gw.JWKSURL}), auth.VerifierConfig{Issuer: gw.Issuer, Audience: gw.Audience})
		g, err := gateway.New(gw.Config, verifier, api.OpenAPI(), log.With("service", "gateway"))
		if err != nil {
			return server.Module{}, err
		}
		return g.Module(gw.Addr), nil
	}
	return server.Module{}, errors.New("unknown module " + name)
}

// pointAt makes the URLs other services use to reach the one just bound
// point at its listener, unless they were configured: in one process a
// service finds the others wherever they listen (port 0 included).
func (c *rootConfig) pointAt(name string, addr net.Addr) {
	base := "http://" + loopback(addr)
	switch name {
	case "users":
		if c.derived["AUTH_JWKS_URL"] {
			c.Products.JWKSURL = base + "/.well-known/jwks.json"
			c.Orders.JWKSURL = c.Products.JWKSURL
			c.Gateway.JWKSURL = c.Products.JWKSURL
		}
	case "products":
		if c.derived["ORDERS_PRODUCTS_URL"] {
			c.Orders.ProductsURL = base
		}
	}
	if c.derived["GATEWAY_"+strings.ToUpper(name)+"_URLS"] {
		c.Gateway.Config.Upstreams[name] = []string{base}
	}
}

// loopback turns a listener's address into one to dial: an unspecified
// host (":8081" binds every interface) becomes the loopback address.
func loopback(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return addr.String()
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
}
