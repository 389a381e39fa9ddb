package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/trace"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// serveFlags are serve's flags: --target, a --<name>-addr per module and
// --no-migrate. Each flag given sets the variable it names, in set.
type serveFlags struct {
	fs      *flag.FlagSet
	target  *string
	addrs   map[string]*string
	migrate *bool // --no-migrate
}

func newServeFlags(b binary, mods []module) serveFlags {
	f := serveFlags{fs: flag.NewFlagSet("serve", flag.ContinueOnError), addrs: map[string]*string{}}
	f.fs.SetOutput(b.out)
	f.target = f.fs.String("target", "all", "modules to run: all, or a comma-separated list of "+strings.Join(names(mods), ", "))
	for _, m := range mods {
		def := m.addr
		if v, ok := b.getenv(m.addrVariable()); ok && strings.TrimSpace(v) != "" {
			def = v
		}
		f.addrs[m.name] = f.fs.String(m.name+"-addr", def, fmt.Sprintf("listen address of the %s module (%s)", m.name, m.addrVariable()))
	}
	f.migrate = f.fs.Bool("no-migrate", false, "do not apply migrations on start (MIGRATE_ON_START=false)")
	return f
}

// set returns the variables the flags given set.
func (f serveFlags) set(mods []module) map[string]string {
	vars := map[string]string{}
	f.fs.Visit(func(fl *flag.Flag) {
		for _, m := range mods {
			if fl.Name == m.name+"-addr" {
				vars[m.addrVariable()] = *f.addrs[m.name]
			}
		}
		if fl.Name == "no-migrate" && *f.migrate {
			vars["MIGRATE_ON_START"] = "false"
		}
	})
	return vars
}

func (b binary) serve(ctx context.Context, args []string) error {
	mods, err := startOrder(b.modules)
	if err != nil {
		return err
	}
	flags := newServeFlags(b, mods)
	if err := flags.fs.Parse(args); err != nil {
		return err
	}
	getenv := overlay(flags.set(mods), b.getenv)
	cfg, err := loadAll(getenv, mods)
	if err != nil {
		return err
	}
	chosen, err := parseTargets(*flags.target, mods)
	if err != nil {
		return err
	}
	debug.SetGCPercent(cfg.process.GCPercent)
	// The sink is closed last, after every other deferred step has logged.
	sink := observability.NewLogSink(b.out, observability.DefaultLogSinkSize)
	defer sink.Close()
	log := observability.NewLogger(sink, cfg.process.LogLevel)
	reg := observability.NewRegistry()
	tracers, flush, err := startTracing(cfg.process.Tracing, chosen)
	if err != nil {
		return err
	}
	defer flush(log)
	srv := server.New(log, reg, cfg.process.ShutdownTimeout)
	srv.SetTracing(func(module string) trace.TracerProvider { return tracers[module] })
	srv.SetDrainDelay(cfg.process.ShutdownDelay)
	srv.SetLimits(cfg.process.Limits)
	srv.SetPprof(cfg.process.Pprof)
	if err := srv.SetTLS(cfg.process.TLS); err != nil {
		return err
	}
	var etcd *clientv3.Client
	if len(cfg.shared.EtcdEndpoints) > 0 {
		if etcd, err = discovery.Dial(ctx, cfg.shared.EtcdEndpoints); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		defer etcd.Close() // after deregistration, below
	}
	metricsAddr, err := addMetrics(srv, cfg.process.MetricsAddr)
	if err != nil {
		return err
	}
	st := starter{mods: mods, chosen: chosen, getenv: getenv, cfg: cfg, srv: srv, etcd: etcd, tracers: tracers,
		deps: deps{Deps: server.Deps{Log: log, Registry: reg}, local: srv.Local(gateway.NewTransport()), etcd: etcd}}
	addrs, regs, err := st.start(ctx)
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		addrs["metrics"] = metricsAddr
		st.schemes["metrics"] = st.scheme(server.Module{Name: "metrics"})
	}
	if b.ready != nil {
		b.ready(addrs)
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
	go announce(running, srv, log, chosen, addrs, st.schemes)
	err = srv.Run(running)
	stop()
	<-deregistered
	return err
}

// startTracing makes the TracerProvider of each chosen module, none when
// tracing is off, and returns the function that flushes their spans on
// exit. No OpenTelemetry global is set: every provider is passed down
// explicitly, and no library the platform uses reads the globals.
func startTracing(cfg tracing.Config, chosen []module) (map[string]trace.TracerProvider, func(*slog.Logger), error) {
	tr := tracing.New(cfg)
	tracers := map[string]trace.TracerProvider{}
	for _, m := range chosen {
		tp, err := tr.Provider(m.name)
		if err != nil {
			_ = tr.Shutdown(context.Background())
			return nil, nil, err
		}
		if tp != nil {
			tracers[m.name] = tp
		}
	}
	flush := func(log *slog.Logger) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn("tracing: spans lost on exit", "err", err)
		}
	}
	return tracers, flush, nil
}

// overlay is getenv with vars in front.
func overlay(vars map[string]string, getenv func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := vars[name]; ok {
			return v, true
		}
		return getenv(name)
	}
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

// parseTargets returns the modules s names ("all" for every one), in start
// order.
func parseTargets(s string, mods []module) ([]module, error) {
	want := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "all":
			for _, m := range mods {
				want[m.name] = true
			}
		case slices.Contains(names(mods), t):
			want[t] = true
		default:
			return nil, fmt.Errorf("--target: unknown module %q (want all or %s)", t, strings.Join(names(mods), ", "))
		}
	}
	return slices.DeleteFunc(slices.Clone(mods), func(m module) bool { return !want[m.name] }), nil
}

// starter builds and binds the chosen modules, in start order.
type starter struct {
	mods, chosen []module
	// getenv is the environment with the flags given.
	getenv func(string) (string, bool)
	cfg    loaded
	srv    *server.Server
	etcd   *clientv3.Client
	deps   deps
	// tracers are the modules' TracerProviders, none when tracing is off.
	tracers map[string]trace.TracerProvider
	// pointed are the URLs of modules bound so far, for the variables of
	// the modules that need them and were not configured.
	pointed map[string]string
	// schemes are the bound modules' URL schemes (https for TLS), by name.
	schemes map[string]string
}

// start builds each chosen module, binds its listener and, with a
// registry, registers it there. On error the modules already built are
// closed and the registrations removed.
func (st *starter) start(ctx context.Context) (map[string]string, []*discovery.Registration, error) {
	st.pointed, st.schemes = map[string]string{}, map[string]string{}
	addrs := map[string]string{}
	var (
		built []server.Module
		regs  []*discovery.Registration
	)
	fail := func(err error) (map[string]string, []*discovery.Registration, error) {
		deregister(regs, st.deps.Log)
		for _, m := range built {
			if m.Close != nil {
				m.Close()
			}
		}
		return nil, nil, err
	}
	for _, m := range st.chosen {
		addr, in, err := loadModule(st.lookup(), m, st.mods)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", m.name, err))
		}
		d := st.deps
		d.Tracer = st.tracers[m.name]
		sm, err := in.build(ctx, addr, d)
		if err != nil {
			return fail(err)
		}
		built = append(built, sm)
		bound, err := st.srv.Add(sm)
		if err != nil {
			return fail(err)
		}
		addrs[m.name] = bound.String()
		scheme := st.scheme(sm)
		st.schemes[m.name] = scheme
		st.point(m, scheme, bound)
		if st.etcd != nil && len(m.routes) > 0 {
			r, err := discovery.Register(ctx, st.etcd, discovery.DefaultPrefix, m.name, st.advertise(scheme, bound), 10*time.Second, st.deps.Log)
			if err != nil {
				return fail(fmt.Errorf("%s: register: %w", m.name, err))
			}
			regs = append(regs, r)
		}
	}
	return addrs, regs, nil
}

// lookup is the environment a module is built with: the URLs pointed at
// this process's listeners over the process's own. A module behind the gateway of its own
// process believes the client address the gateway forwards because the
// call comes in-process (httpx.InProcess), not because it comes from
// loopback: any local program can reach a module's port over loopback.
func (st *starter) lookup() func(string) (string, bool) {
	return overlay(st.pointed, st.getenv)
}

func (st *starter) isSet(name string) bool {
	v, ok := st.getenv(name)
	return ok && strings.TrimSpace(v) != ""
}

// point makes the URLs other modules need of the one just bound point at
// its listener, unless they were configured: in one process a module finds
// the others wherever they listen (port 0 included). With a registry, the
// gateway finds every instance there, this one included.
func (st *starter) point(bound module, scheme string, addr net.Addr) {
	base := scheme + "://" + loopback(addr)
	for _, m := range st.mods {
		for _, n := range allNeeds(m, st.mods) {
			if n.module != bound.name || st.isSet(n.variable) || n.viaRegistry && len(st.cfg.shared.EtcdEndpoints) > 0 {
				continue
			}
			st.pointed[n.variable] = base + n.path
		}
	}
}

// scheme is how a built module's listener is reached: https when it
// serves TLS.
func (st *starter) scheme(m server.Module) string {
	if st.cfg.process.TLS.Serves(m) {
		return "https"
	}
	return "http"
}

// advertise is the base URL other processes reach a listener at.
func (st *starter) advertise(scheme string, addr net.Addr) string {
	if st.cfg.process.AdvertiseHost == "" {
		return scheme + "://" + loopback(addr)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return scheme + "://" + net.JoinHostPort(st.cfg.process.AdvertiseHost, port)
}

// gatewayModule wires the gateway: token verification, the Redis of the
// rate limits, and each module's source of instances.
func gatewayModule(gw gateway.Settings, addr string, d deps) (server.Module, error) {
	log := d.Log.With("service", "gateway")
	sources, err := gw.Sources(d.etcd, log)
	if err != nil {
		return server.Module{}, err
	}
	gw.Config.Upstreams = sources
	gd := gateway.Deps{
		Verifier:  auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: gw.JWKSURL}), auth.VerifierConfig{Issuer: gw.Issuer, Audience: gw.Audience}),
		Log:       log,
		Registry:  d.Registry,
		Transport: d.local,
		Tracer:    d.Tracer,
	}
	var rdb *redis.Client
	if gw.RateLimits {
		opts, err := cache.ParseURL(gw.RedisURL)
		if err != nil {
			return server.Module{}, fmt.Errorf("gateway: redis: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		rdb = redis.NewClient(opts)
		cache.Instrument(rdb, d.Registry, "ratelimit")
		gd.Limiter = ratelimit.New(rdb, gw.RatePrefix, log, d.Registry)
	}
	g, err := gateway.New(gw.Config, gd)
	if err != nil {
		if rdb != nil {
			rdb.Close()
		}
		return server.Module{}, err
	}
	m := g.Module(addr)
	if rdb != nil {
		m.Close = func() { g.Close(); rdb.Close() }
	}
	return m, nil
}

// announce logs one line, once every module of the process is ready, with
// the URLs a person opens: the pages of the modules (the gateway's API and
// its reference), else each module's base URL, and the metrics.
func announce(ctx context.Context, srv *server.Server, log *slog.Logger, chosen []module, addrs, schemes map[string]string) {
	select {
	case <-ctx.Done():
		return
	case <-srv.AllReady():
	}
	var attrs []any
	for _, m := range chosen {
		for _, p := range m.pages {
			attrs = append(attrs, p.label, schemes[m.name]+"://"+dialable(addrs[m.name])+p.path)
		}
	}
	if len(attrs) == 0 {
		for _, m := range chosen {
			attrs = append(attrs, m.name, schemes[m.name]+"://"+dialable(addrs[m.name]))
		}
	}
	if a, ok := addrs["metrics"]; ok {
		attrs = append(attrs, "metrics", schemes["metrics"]+"://"+dialable(a)+"/metrics")
	}
	log.Info("ready", attrs...)
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

// dialable turns a listen address into one a person or a client on this
// machine dials: no host, or an unspecified one, becomes localhost.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
