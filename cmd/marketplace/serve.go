package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// targets are the services serve can run; "all" means every one of them.
// They start in this order, each before those that call it.
var targets = []string{"users", "products", "search", "orders", "gateway"}

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
	fs.StringVar(&cfg.Search.Addr, "search-addr", cfg.Search.Addr, "listen address of the search service (SEARCH_ADDR)")
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
	srv.SetLimits(cfg.Limits)
	srv.SetPprof(cfg.Pprof)
	if slices.Contains(chosen, "users") && slices.Contains(chosen, "gateway") && len(cfg.Users.TrustedProxies) == 0 {
		// The gateway in this process calls users over loopback: users
		// must believe the client address it forwards, or every login
		// would count against the gateway's own address.
		cfg.Users.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	var etcd *clientv3.Client
	if len(cfg.EtcdEndpoints) > 0 {
		if etcd, err = discovery.Dial(ctx, cfg.EtcdEndpoints); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		defer etcd.Close() // after deregistration, below
	}
	metricsAddr, err := addMetrics(srv, cfg.MetricsAddr)
	if err != nil {
		return err
	}
	addrs, regs, err := startModules(ctx, cfg, chosen, log, reg, srv, etcd)
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		addrs["metrics"] = metricsAddr
	}
	if ready != nil {
		ready(addrs)
	}
	// Instances leave the registry before they start draining, so the
	// gateway stops picking them while they still answer.
	running, stop := context.WithCancel(context.WithoutCancel(ctx))
	deregistered := make(chan struct{})
	go func() {
		defer close(deregistered)
		select {
		case <-ctx.Done():
		case <-running.Done():
		}
		deregister(regs, log)
		stop()
	}()
	err = srv.Run(running)
	stop()
	<-deregistered
	return err
}

// addMetrics binds the metrics listener, if there is to be one.
func addMetrics(srv *server.Server, addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	a, err := srv.AddMetrics(addr)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

func deregister(regs []*discovery.Registration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, r := range regs {
		if err := r.Close(ctx); err != nil {
			log.Warn("deregister", "err", err)
		}
	}
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

// startModules builds each chosen service, binds its listener and, with a
// registry, registers it there. On error the modules already built are
// closed and the registrations removed.
func startModules(ctx context.Context, cfg rootConfig, chosen []string, log *slog.Logger, reg prometheus.Registerer,
	srv *server.Server, etcd *clientv3.Client) (map[string]string, []*discovery.Registration, error) {
	addrs := map[string]string{}
	var (
		built []server.Module
		regs  []*discovery.Registration
	)
	fail := func(err error) (map[string]string, []*discovery.Registration, error) {
		deregister(regs, log)
		for _, m := range built {
			m.Close()
		}
		return nil, nil, err
	}
	for _, name := range chosen {
		m, err := buildModule(ctx, cfg, name, log, reg, srv, etcd)
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
		if etcd != nil && name != "gateway" {
			r, err := discovery.Register(ctx, etcd, discovery.DefaultPrefix, name, cfg.advertise(addr), 10*time.Second, log)
			if err != nil {
				return fail(fmt.Errorf("%s: register: %w", name, err))
			}
			regs = append(regs, r)
		}
	}
	return addrs, regs, nil
}

func buildModule(ctx context.Context, cfg rootConfig, name string, log *slog.Logger, reg prometheus.Registerer,
	srv *server.Server, etcd *clientv3.Client) (server.Module, error) {
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
	case "search":
		s, err := searchsrv.New(ctx, cfg.Search, log, reg)
		if err != nil {
			return server.Module{}, err
		}
		return s.Module(cfg.Search.Addr), nil
	case "gateway":
		// Services in this process are reached without a socket.
		return gatewayModule(cfg.Gateway, log.With("service", "gateway"), reg, srv.Local(gateway.NewTransport()), etcd)
	}
	return server.Module{}, errors.New("unknown module " + name)
}

// gatewayModule wires the gateway: token verification, the Redis of the
// rate limits, and each service's source of instances.
func gatewayModule(gw gateway.Settings, log *slog.Logger, reg prometheus.Registerer, transport http.RoundTripper,
	etcd *clientv3.Client) (server.Module, error) {
	sources, err := gw.Sources(etcd, log)
	if err != nil {
		return server.Module{}, err
	}
	gw.Config.Upstreams = sources
	deps := gateway.Deps{
		Verifier:  auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: gw.JWKSURL}), auth.VerifierConfig{Issuer: gw.Issuer, Audience: gw.Audience}),
		Log:       log,
		Registry:  reg,
		Transport: transport,
	}
	var rdb *redis.Client
	if gw.RateLimits {
		opts, err := redis.ParseURL(gw.RedisURL)
		if err != nil {
			return server.Module{}, fmt.Errorf("gateway: redis: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		rdb = redis.NewClient(opts)
		deps.Limiter = ratelimit.New(rdb, gw.RatePrefix, log, reg)
	}
	g, err := gateway.New(gw.Config, deps)
	if err != nil {
		if rdb != nil {
			rdb.Close()
		}
		return server.Module{}, err
	}
	m := g.Module(gw.Addr)
	if rdb != nil {
		m.Close = func() { g.Close(); rdb.Close() }
	}
	return m, nil
}

// advertise is the base URL other processes reach a listener at.
func (c *rootConfig) advertise(addr net.Addr) string {
	if c.AdvertiseHost == "" {
		return "http://" + loopback(addr)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://" + net.JoinHostPort(c.AdvertiseHost, port)
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
			c.Search.JWKSURL = c.Products.JWKSURL
		}
	case "products":
		if c.derived["ORDERS_PRODUCTS_URL"] {
			c.Orders.ProductsURL = base
		}
		if c.derived["SEARCH_PRODUCTS_URL"] {
			c.Search.ProductsURL = base
		}
	}
	// With a registry the gateway finds every instance there, this one
	// included.
	if c.derived["GATEWAY_"+strings.ToUpper(name)+"_URLS"] && len(c.EtcdEndpoints) == 0 {
		c.Gateway.Instances[name] = []string{base}
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
