package config

import (
	"net/netip"
	"strings"
)

// Shared are the settings several modules take from the root
// configuration: the servers they share and how tokens are checked. Every
// module's LoadConfig takes the same Shared and picks what it needs.
type Shared struct {
	// PostgresURL is the server whose databases the services use, each its
	// own database (named by the service unless configured).
	PostgresURL string
	// DataDir keeps what local runs generate (keys).
	DataDir string
	// Migrate applies migrations on start.
	Migrate bool
	// PublicURL is the base of links in mail.
	PublicURL string
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Issuer, Audience and JWKSURL check access tokens: the users service
	// issues them, the others fetch its public keys from JWKSURL.
	Issuer   string
	Audience string
	JWKSURL  string
	RedisURL string
	AMQPURL  string
	// EtcdEndpoints is the service registry; none means services do not
	// register, and the gateway finds them at configured URLs.
	EtcdEndpoints []string
}

// LoadShared reads the variables every module may use.
func LoadShared(e *Env) Shared {
	e.Describe(sharedDocs())
	return Shared{
		PostgresURL:    e.URL("POSTGRES_URL", "postgres://postgres@localhost:5432/postgres?sslmode=disable", "postgres", "postgresql"),
		DataDir:        e.String("DATA_DIR", "./data"),
		Migrate:        e.Bool("MIGRATE_ON_START", true),
		PublicURL:      e.URL("PUBLIC_URL", "http://localhost:8081", "http", "https"),
		TrustedProxies: prefixes(e, "TRUSTED_PROXIES"),
		Issuer:         e.String("AUTH_ISSUER", "marketplace-users"),
		Audience:       e.String("AUTH_AUDIENCE", "marketplace"),
		JWKSURL:        e.URL("AUTH_JWKS_URL", "http://localhost:8081/.well-known/jwks.json", "http", "https"),
		RedisURL:       e.URL("REDIS_URL", "redis://localhost:6379/0", "redis", "rediss"),
		AMQPURL:        e.URL("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/", "amqp", "amqps"),
		EtcdEndpoints:  List(e.String("ETCD_ENDPOINTS", "")),
	}
}

func sharedDocs() Docs {
	return Docs{
		"POSTGRES_URL":     "server whose databases the services use (each service its own database); the users and orders pools open up to 8 connections each unless the URL sets `pool_max_conns`; TLS: `sslmode=verify-full&sslrootcert=...` (docs/deploy.md)",
		"DATA_DIR":         "where local runs keep generated keys",
		"MIGRATE_ON_START": "apply migrations in `serve` (flag `--no-migrate`)",
		"PUBLIC_URL":       "base of links in mail (reset link: `$PUBLIC_URL/reset-password?token=...`; order confirmation: `$PUBLIC_URL/orders/{id}`)",
		"TRUSTED_PROXIES":  "comma-separated CIDRs whose `X-Forwarded-For` is believed for the client address (in one process, the services behind the gateway believe it because it calls them in-process; loopback is never trusted by default)",
		"AUTH_ISSUER":      "`iss` of access tokens, checked by every service",
		"AUTH_AUDIENCE":    "`aud` of access tokens, checked by every service",
		"AUTH_JWKS_URL":    "where services other than users fetch the token keys (in one process: the users listener)",
		"REDIS_URL":        "cache (products) and, unless `GATEWAY_REDIS_URL` is set, the gateway's rate limits; `rediss://` for TLS, with `tls_ca_file`, `tls_cert_file` and `tls_key_file` query parameters for a private CA and a client certificate (docs/deploy.md)",
		"RABBITMQ_URL":     "event broker; secret (password); TLS: `amqps://` with `cacertfile`, `certfile`, `keyfile` (docs/deploy.md)",
		"ETCD_ENDPOINTS":   "etcd registry, comma-separated: services register in it, the gateway watches it",
	}
}

// List splits a comma- or space-separated list, dropping empty entries.
func List(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func prefixes(e *Env, name string) []netip.Prefix {
	var list []netip.Prefix
	for _, s := range List(e.String(name, "")) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			e.Fail(name, "want comma-separated CIDR prefixes such as 10.0.0.0/8, got %q", s)
			continue
		}
		list = append(list, p)
	}
	return list
}
