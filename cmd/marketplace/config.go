package main

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// processConfig is the configuration of the process, whatever modules it
// runs. Each module reads its own through the table (module.load).
type processConfig struct {
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	ShutdownDelay   time.Duration
	// MetricsAddr, if set, serves /metrics on a listener of its own; the
	// gateway, which faces clients, serves it nowhere else.
	MetricsAddr string
	// Pprof serves /debug/pprof on the metrics listener (PPROF_ENABLED).
	Pprof bool
	// Limits bound the requests each service module works on at once.
	Limits server.Limits
	// TLS says which listeners serve HTTPS, with which certificate.
	TLS server.TLS
	// AdvertiseHost is the address other processes reach this one at, as
	// registered in etcd (ADVERTISE_HOST; default the loopback address).
	AdvertiseHost string
	// Tracing is where spans go (the OTEL_* variables); off by default.
	Tracing tracing.Config
	// GCPercent is the garbage collector's target (GOGC), -1 for off.
	GCPercent int
}

func loadProcess(e *config.Env) processConfig {
	e.Describe(processDocs())
	c := processConfig{
		LogLevel:        logLevel(e),
		ShutdownTimeout: e.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		ShutdownDelay:   e.DurationOrZero("SHUTDOWN_DELAY", 0),
		MetricsAddr:     e.String("METRICS_ADDR", ""),
		Limits:          server.LoadLimits(e),
		TLS:             server.LoadTLS(e),
		Pprof:           e.Bool("PPROF_ENABLED", false),
		AdvertiseHost:   e.String("ADVERTISE_HOST", ""),
		Tracing:         tracing.LoadConfig(e),
		GCPercent:       gcPercent(e),
	}
	e.ShowDefault("ADVERTISE_HOST", "`127.0.0.1`")
	if c.Pprof && c.MetricsAddr == "" {
		e.Fail("PPROF_ENABLED", "needs METRICS_ADDR: the profiles are served on the metrics listener only")
	}
	return c
}

func logLevel(e *config.Env) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(e.String("LOG_LEVEL", "info"))); err != nil {
		e.Fail("LOG_LEVEL", "want debug, info, warn or error")
	}
	return l
}

// serveGCPercent is serve's garbage collector target when GOGC is unset:
// collect when the heap has grown by twice what the last collection left,
// not once. A service's heap is mostly garbage made per request (an
// uncached product read allocates about 135 KB, most of it the embedded
// FerretDB decoding the document), and at the runtime's default of 100 the
// collector took a tenth of the process's CPU and its pauses the reads'
// p99. What stays live is bounded by the requests each service admits at
// once, not by this (ADR 67).
const serveGCPercent = 200

// gcPercent reads GOGC as the Go runtime does: a percentage, or off.
func gcPercent(e *config.Env) int {
	v := e.String("GOGC", strconv.Itoa(serveGCPercent))
	if v == "off" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.Fail("GOGC", "want a percentage (0 or more) or off, got %q", v)
		return serveGCPercent
	}
	return n
}

func processDocs() config.Docs {
	return config.Docs{
		"SHUTDOWN_TIMEOUT": "how long requests in flight may take to finish on shutdown",
		"SHUTDOWN_DELAY":   "on SIGTERM, answer 503 on `/readyz` for this long before closing listeners (set about 5s behind a load balancer such as Kubernetes)",
		"METRICS_ADDR":     "a listener of its own for `/metrics` (and `/healthz`, `/readyz`, and `/debug/pprof/` with `PPROF_ENABLED`); the gateway, which faces clients, serves `/metrics` only there",
		"PPROF_ENABLED":    "serve Go's profiles under `/debug/pprof/` on the `METRICS_ADDR` listener (required with it), never on a service's port",
		"ADVERTISE_HOST":   "the host other processes reach this one at, as registered in etcd",
		"LOG_LEVEL":        "`debug`, `info`, `warn`, `error`; logs are JSON on stdout",
		"GOGC":             "the garbage collector's target, read by the Go runtime too: how far the heap grows past what the last collection left, in percent, or `off`; serve's default trades memory for CPU against the runtime's 100 (ADR 67)",
	}
}

// loaded is the whole configuration: the process's, the shared settings
// and each module's.
type loaded struct {
	process processConfig
	shared  config.Shared
	modules map[string]instance
	// vars are the variables read, by section: "process", "shared", then
	// each module's name.
	vars map[string][]config.Var
	env  *config.Env
}

// loadAll reads every setting of the process and of every module, so that
// a bad value anywhere stops the program before anything starts.
func loadAll(getenv func(string) (string, bool), mods []module) (loaded, error) {
	e := config.FromLookup(getenv)
	l := loaded{modules: map[string]instance{}, vars: map[string][]config.Var{}, env: e}
	read := 0
	section := func(name string) {
		l.vars[name] = e.Vars()[read:]
		read = len(e.Vars())
	}
	l.process = loadProcess(e)
	section("process")
	l.shared = config.LoadShared(e)
	section("shared")
	ups := upstreams(mods)
	for _, m := range mods {
		readAddr(e, m)
		l.modules[m.name] = m.load(source{env: e, shared: l.shared, upstreams: ups})
		section(m.name)
	}
	if err := e.Err(); err != nil {
		return l, fmt.Errorf("configuration: %w", err)
	}
	return l, nil
}

// loadModule reads one module's configuration again, as it is built: by
// then the URLs of the modules it needs in this process are known.
func loadModule(getenv func(string) (string, bool), m module, mods []module) (string, instance, error) {
	e := config.FromLookup(getenv)
	addr := readAddr(e, m)
	in := m.load(source{env: e, shared: config.LoadShared(e), upstreams: upstreams(mods)})
	if err := e.Err(); err != nil {
		return "", instance{}, fmt.Errorf("configuration: %w", err)
	}
	return addr, in, nil
}

// port is the port of a listen address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// readAddr reads a module's listen address.
func readAddr(e *config.Env, m module) string {
	// Loopback by default: a local run is not reachable from the network
	// until asked to be, as in a container, where the address is set.
	e.Describe(config.Docs{m.addrVariable(): fmt.Sprintf("listen address of the %s module (flag `--%s-addr`); the default listens on loopback only, `:%s` listens on every interface (containers, Kubernetes)",
		m.name, m.name, port(m.addr))})
	return e.String(m.addrVariable(), m.addr)
}
