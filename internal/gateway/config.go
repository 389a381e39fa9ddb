package gateway

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
)

// Settings is the gateway's configuration as the binary reads it.
type Settings struct {
	Config Config // Upstreams are built by Sources
	// Instances are each service's GATEWAY_<SERVICE>_URLS: base URLs, or
	// one dns+http://name:port whose A records are the instances. None
	// means the etcd registry.
	Instances map[string][]string
	// EtcdEndpoints is the registry instances register in (ETCD_ENDPOINTS).
	EtcdEndpoints []string
	// RedisURL holds the rate limits' counters; RateLimits false turns the
	// limits off.
	RedisURL   string
	RateLimits bool
	// RatePrefix starts the counters' keys, so that platforms sharing a
	// Redis keep their budgets apart.
	RatePrefix string
	JWKSURL    string
	Issuer     string
	Audience   string
}

// Upstream is a service the gateway routes to.
type Upstream struct {
	Name string
	// Routes are the paths sent to it; their Service is Name.
	Routes []Route
	// URL is where its instance is when neither GATEWAY_<NAME>_URLS nor a
	// registry says, such as http://localhost:8081.
	URL string
}

// InstancesVariable names the variable that lists a service's instances.
func InstancesVariable(service string) string {
	return "GATEWAY_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_URLS"
}

// LoadSettings reads the GATEWAY_* variables; the gateway routes to
// upstreams.
func LoadSettings(e *config.Env, sh config.Shared, upstreams []Upstream) Settings {
	e.Describe(settingsDocs(upstreams))
	s := Settings{
		Instances:     map[string][]string{},
		EtcdEndpoints: sh.EtcdEndpoints,
		RedisURL:      e.URL("GATEWAY_REDIS_URL", sh.RedisURL, "redis", "rediss"),
		RateLimits:    e.String("GATEWAY_RATE_LIMITS", "on") != "off",
		RatePrefix:    e.String("GATEWAY_RATE_PREFIX", "gateway:"),
		JWKSURL:       sh.JWKSURL,
		Issuer:        sh.Issuer,
		Audience:      sh.Audience,
		Config: Config{
			Balance:        e.String("GATEWAY_BALANCE", RoundRobin),
			Timeout:        e.Duration("GATEWAY_TIMEOUT", 10*time.Second),
			Retries:        e.Int("GATEWAY_RETRIES", 2, 0, 10),
			EjectAfter:     e.Int("GATEWAY_EJECT_AFTER", 3, 1, 100),
			EjectFor:       e.Duration("GATEWAY_EJECT_FOR", 10*time.Second),
			HealthInterval: e.Duration("GATEWAY_HEALTH_INTERVAL", 2*time.Second),
			BreakerOpenFor: e.Duration("GATEWAY_BREAKER_OPEN_FOR", 5*time.Second),
			MaxPending:     e.Int("GATEWAY_MAX_PENDING", 64, 1, 1<<20),
			MaxInFlight:    e.Int("GATEWAY_MAX_IN_FLIGHT", 256, 2, 1<<20),
			TrustedProxies: sh.TrustedProxies,
			CORS:           CORS{Origins: list(e.String("GATEWAY_CORS_ORIGINS", ""))},
			Limits: Limits{
				Anonymous:     limit(e, "GATEWAY_RATE_ANONYMOUS", "300/1m burst 100"),
				User:          limit(e, "GATEWAY_RATE_USER", "600/1m burst 200"),
				Login:         limit(e, "GATEWAY_RATE_LOGIN", "10/1m burst 5"),
				PasswordReset: limit(e, "GATEWAY_RATE_PASSWORD_RESET", "5/15m burst 3"),
				Checkout:      limit(e, "GATEWAY_RATE_CHECKOUT", "30/1m burst 10"),
			},
		},
	}
	e.ShowDefault("GATEWAY_REDIS_URL", "`REDIS_URL`")
	if v := e.String("GATEWAY_RATE_LIMITS", "on"); v != "on" && v != "off" {
		e.Fail("GATEWAY_RATE_LIMITS", "want on or off, got %q", v)
	}
	if s.Config.Retries == 0 {
		s.Config.Retries = -1 // zero in Config means the default
	}
	if b := s.Config.Balance; b != RoundRobin && b != LeastInFlight {
		e.Fail("GATEWAY_BALANCE", "want %s or %s, got %q", RoundRobin, LeastInFlight, b)
	}
	for _, up := range upstreams {
		for _, r := range up.Routes {
			r.Service = up.Name
			s.Config.Routes = append(s.Config.Routes, r)
		}
		def := up.URL
		if len(sh.EtcdEndpoints) > 0 {
			def = "" // the registry, unless set
		}
		s.Instances[up.Name] = instances(e, InstancesVariable(up.Name), def)
		e.ShowDefault(InstancesVariable(up.Name), fmt.Sprintf("`%s`; in one process: its listener; with `ETCD_ENDPOINTS`: the registry", up.URL))
	}
	return s
}

// settingsDocs describe the variables LoadSettings reads, for the
// configuration reference (docs/configuration.md).
func settingsDocs(upstreams []Upstream) config.Docs {
	d := config.Docs{
		"GATEWAY_REDIS_URL":           "Redis holding the rate limits' counters; TLS as for `REDIS_URL`",
		"GATEWAY_RATE_LIMITS":         "`off` turns the rate limits off",
		"GATEWAY_RATE_PREFIX":         "start of the counters' keys (platforms sharing a Redis keep their budgets apart)",
		"GATEWAY_BALANCE":             "`round-robin` or `least-in-flight`",
		"GATEWAY_TIMEOUT":             "one attempt at an upstream (a route may allow more: orders' payments, 30s)",
		"GATEWAY_RETRIES":             "other instances a request may try",
		"GATEWAY_EJECT_AFTER":         "failures in a row that leave an instance out",
		"GATEWAY_EJECT_FOR":           "how long an instance left out stays out",
		"GATEWAY_HEALTH_INTERVAL":     "how often each instance's `/readyz` is checked",
		"GATEWAY_BREAKER_OPEN_FOR":    "how long an upstream's open breaker refuses requests",
		"GATEWAY_MAX_PENDING":         "requests one service may have outstanding through the gateway (below `GATEWAY_MAX_IN_FLIGHT`); past it they wait at the gateway in the service's queue (up to 10 s; 100 ms once it has stood for 5 s), then get 503 `overloaded`",
		"GATEWAY_MAX_IN_FLIGHT":       "requests the gateway works on at once, all services together; past it (and a short queue), 503 `overloaded` before any other work",
		"GATEWAY_CORS_ORIGINS":        "browser origins allowed to call the API, comma-separated (`*` for any)",
		"GATEWAY_RATE_ANONYMOUS":      "per client address; a limit is `<rate>/<period>` with an optional `burst <n>`, or `off`",
		"GATEWAY_RATE_USER":           "per user",
		"GATEWAY_RATE_LOGIN":          "`POST /v1/auth/login`, per address",
		"GATEWAY_RATE_PASSWORD_RESET": "password reset request and confirmation, per address",
		"GATEWAY_RATE_CHECKOUT":       "`POST /v1/orders`, per user",
	}
	for _, up := range upstreams {
		d[InstancesVariable(up.Name)] = "the " + up.Name + " service's instances: comma-separated base URLs, or one `dns+http://name:port`"
	}
	return d
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func limit(e *config.Env, name, def string) ratelimit.Limit {
	l, err := ratelimit.ParseLimit(e.String(name, def))
	if err != nil {
		e.Fail(name, "%v", err)
	}
	return l
}

// instances reads a list of base URLs, or a single DNS name.
func instances(e *config.Env, name, def string) []string {
	urls := list(e.String(name, def))
	for _, u := range urls {
		if strings.HasPrefix(u, "dns+") {
			if _, err := discovery.ParseDNS(u); err != nil || len(urls) > 1 {
				e.Fail(name, "want one dns+http://name:port, or base URLs, got %q", strings.Join(urls, ","))
			}
			continue
		}
		if err := checkBase(u); err != nil {
			e.Fail(name, "%v", err)
		}
	}
	return urls
}

// Sources turns the settings into each service's source of instances:
// static URLs, a DNS name, or the etcd registry (cli, which may be nil
// when no service reads from it).
func (s Settings) Sources(cli *clientv3.Client, log *slog.Logger) (map[string]Source, error) {
	out := map[string]Source{}
	for _, svc := range services(s.Config.Routes) {
		urls := s.Instances[svc]
		switch {
		case len(urls) == 1 && strings.HasPrefix(urls[0], "dns+"):
			d, err := discovery.ParseDNS(urls[0])
			if err != nil {
				return nil, fmt.Errorf("gateway: %s: %w", svc, err)
			}
			d.Log = log
			out[svc] = d
		case len(urls) > 0:
			out[svc] = discovery.Static(urls...)
		case cli != nil:
			out[svc] = discovery.Etcd{Client: cli, Prefix: discovery.DefaultPrefix, Service: svc, Log: log}
		default:
			return nil, fmt.Errorf("gateway: no instances of %s configured and no etcd registry", svc)
		}
	}
	return out, nil
}

// UsesEtcd reports whether some service's instances come from the registry.
func (s Settings) UsesEtcd() bool {
	for _, svc := range services(s.Config.Routes) {
		if len(s.Instances[svc]) == 0 {
			return true
		}
	}
	return false
}
