// Package usersrv assembles the users service from its parts (store,
// password hashing pool, token issuer, mailer, HTTP API) and hands it to
// the server as a module.
package usersrv

import (
	netmail "net/mail"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/users/password"
)

// Config is the users service's configuration.
type Config struct {
	DatabaseURL    string
	Migrate        bool
	DataDir        string
	TrustedProxies []netip.Prefix

	Issuer     string
	Audience   string
	AccessTTL  time.Duration
	SessionTTL time.Duration
	KeysJSON   string // secret
	KeysFile   string
	PIIKeys    []fieldcrypt.Key // secret

	Argon       password.Params
	Hasher      string // HasherProcess or HasherInProcess; empty hashes in-process
	HashWorkers int
	HashQueue   int
	// HashBusy is the most of its time a hashing worker spends hashing
	// (password.Limits.Busy); 0 means all of it.
	HashBusy float64
	// HashYield is the share of the machine's CPU time other work uses at
	// which hashing's share has fallen to a fifth of HashBusy
	// (password.Limits.Yield); 0 keeps it at HashBusy.
	HashYield float64
	// HashMaxWait bounds how long a login is expected to wait for a
	// hashing worker (password.Limits.MaxWait); 0 bounds only the count.
	HashMaxWait time.Duration

	AccountMaxFailures int
	AddressMaxFailures int
	FailureWindow      time.Duration

	ResetTTL      time.Duration
	ResetMaxMails int
	ResetURL      string
	Mail          mail.Config

	// Events is the broker the order confirmations are consumed from; an
	// empty URL consumes nothing (tests of the rest of the service).
	Events             events.Config
	OrderURL           string // link to an order's page, without the id
	ConfirmRetryDelay  time.Duration
	ConfirmMaxAttempts int
	// ConfirmConsumers is how many batches of order events are handled at
	// once. Few, so that under load the events wait for a consumer and
	// come in larger batches, which cost less per order (ADR 56).
	ConfirmConsumers int
}

// defaultHashQueue is how many hashing jobs may wait by default: well under
// the 64 requests a module works on at once (MAX_IN_FLIGHT), so that logins
// waiting for a hash never hold every one of the users service's slots and
// a flood of logins leaves its other endpoints answering; and on one worker
// at tens of milliseconds a hash and as long a rest (ADR 58), about a second
// of waiting. A deeper queue would not hash more logins a second, only make
// them wait longer.
const defaultHashQueue = 16

// defaultHashBusyPercent is how much of its time a hashing worker may spend
// hashing by default: half, so that a login flood's hashing is off the run
// queue as long as it is on it, which kept catalog reads' p99 during a
// login flood under twice quiet in 7 of 8 runs, where hashing without rest
// kept it under that in 1 of 6 (ADR 58). It halves the logins a second a
// worker serves at most: about 15 on a 2-core machine at OWASP's parameters.
const defaultHashBusyPercent = 50

// defaultHashYieldPercent is the machine's CPU use by other work at which
// hashing's share has fallen to a fifth of its own by default: on two
// cores, the platform at the mixed load's 70 % rate uses about half the
// CPU time, and catalog reads beside a login flood there kept their p99
// under twice quiet more often with hashing at a tenth of its time than at
// half (ADR 68).
const defaultHashYieldPercent = 50

// defaultHashMaxWait is how long a login may be expected to wait for a
// hashing worker by default: about what a person signing in waits before
// trying again anyway. Past it the login is refused at once with
// Retry-After; a longer queue would hash no more logins a second, as with
// defaultHashQueue, only answer them later (ADR 70).
const defaultHashMaxWait = time.Second

// Where password hashes run (USERS_HASHER).
const (
	// HasherProcess runs each hashing worker in a child process of this
	// binary at the lowest CPU priority: the default, see ADR 35.
	HasherProcess = "process"
	// HasherInProcess hashes on goroutines of the serving process.
	HasherInProcess = "inprocess"
)

// LoadConfig reads the USERS_*, AUTH_* and SMTP_* variables.
func LoadConfig(e *config.Env, sh config.Shared) Config {
	e.Describe(configDocs())
	c := Config{
		DatabaseURL:    e.URL("USERS_DATABASE_URL", pg.WithDatabase(sh.PostgresURL, "users"), "postgres", "postgresql"),
		Migrate:        sh.Migrate,
		DataDir:        sh.DataDir,
		TrustedProxies: sh.TrustedProxies,
		Issuer:         sh.Issuer,
		Audience:       sh.Audience,
		AccessTTL:      e.Duration("AUTH_ACCESS_TOKEN_TTL", 15*time.Minute),
		SessionTTL:     e.Duration("AUTH_SESSION_TTL", 30*24*time.Hour),
		KeysJSON:       e.String("AUTH_SIGNING_KEYS", ""),
		KeysFile:       e.String("AUTH_SIGNING_KEYS_FILE", ""),
		Argon: password.Params{
			MemoryKiB: uint32(e.Int("USERS_ARGON2_MEMORY_KIB", int(password.OWASP.MemoryKiB), 19*1024, 4<<20)),
			Time:      uint32(e.Int("USERS_ARGON2_TIME", int(password.OWASP.Time), 2, 100)),
			Threads:   uint8(e.Int("USERS_ARGON2_THREADS", int(password.OWASP.Threads), 1, 64)),
		},
		Hasher:             e.String("USERS_HASHER", HasherProcess),
		HashWorkers:        e.Int("USERS_HASH_WORKERS", password.DefaultWorkers(), 1, 1024),
		HashQueue:          e.Int("USERS_HASH_QUEUE", defaultHashQueue, 1, 1<<16),
		HashBusy:           float64(e.Int("USERS_HASH_BUSY_PERCENT", defaultHashBusyPercent, 1, 100)) / 100,
		HashYield:          float64(e.Int("USERS_HASH_YIELD_PERCENT", defaultHashYieldPercent, 0, 100)) / 100,
		HashMaxWait:        e.DurationOrZero("USERS_HASH_MAX_WAIT", defaultHashMaxWait),
		AccountMaxFailures: e.Int("USERS_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, 1, 1000),
		AddressMaxFailures: e.Int("USERS_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 100000),
		FailureWindow:      e.Duration("USERS_LOGIN_FAILURE_WINDOW", 15*time.Minute),
		ResetTTL:           e.Duration("USERS_PASSWORD_RESET_TTL", 30*time.Minute),
		ResetMaxMails:      e.Int("USERS_PASSWORD_RESET_MAX_MAILS", 3, 1, 1000),
		ResetURL:           strings.TrimRight(sh.PublicURL, "/") + "/reset-password?token=",
		Events:             events.Config{URL: sh.AMQPURL, Name: "users"},
		OrderURL:           strings.TrimRight(sh.PublicURL, "/") + "/orders/",
		ConfirmRetryDelay:  e.Duration("USERS_CONFIRMATION_RETRY_DELAY", time.Minute),
		ConfirmMaxAttempts: e.Int("USERS_CONFIRMATION_MAX_ATTEMPTS", 1440, 1, 1<<20),
		ConfirmConsumers:   e.Int("USERS_CONFIRMATION_CONSUMERS", 2, 1, 64),
		Mail: mail.Config{
			Host:     e.String("SMTP_HOST", ""),
			Port:     e.Int("SMTP_PORT", 587, 1, 65535),
			Username: e.String("SMTP_USERNAME", ""),
			Password: e.String("SMTP_PASSWORD", ""),
			From:     e.String("SMTP_FROM", "Marketplace <no-reply@localhost>"),
			TLS:      e.String("SMTP_TLS", "starttls"),
		},
	}
	e.ShowDefault("USERS_DATABASE_URL", "`POSTGRES_URL` with database `users`")
	e.ShowDefault("USERS_HASH_WORKERS", "half the CPUs (`GOMAXPROCS/2`), at least 1")
	for _, k := range e.Keys("USERS_PII_KEYS", fieldcrypt.KeySize) {
		c.PIIKeys = append(c.PIIKeys, fieldcrypt.Key{ID: k.ID, Secret: k.Secret})
	}
	c.validate(e)
	return c
}

// configDocs describe the variables LoadConfig reads, for the
// configuration reference (docs/configuration.md).
func configDocs() config.Docs {
	return config.Docs{
		"USERS_DATABASE_URL":                   "users database; created on start when missing and the role may",
		"AUTH_ACCESS_TOKEN_TTL":                "access token lifetime (at most 1h)",
		"AUTH_SESSION_TTL":                     "absolute lifetime of a refresh token family (30 days)",
		"AUTH_SIGNING_KEYS":                    "secret: a JWK set of Ed25519 private keys (JSON); the first signs, all are published",
		"AUTH_SIGNING_KEYS_FILE":               "the same, from a file; with neither, a key is generated in `$DATA_DIR/users/jwt-keys.json` (local runs)",
		"USERS_PII_KEYS":                       "secret: `id:base64key,...` AES-256 keys for phone and address; first encrypts, all decrypt; with none, a key is generated in `$DATA_DIR/users/pii-key`",
		"USERS_ARGON2_MEMORY_KIB":              "argon2id memory (OWASP minimum 19 MiB; lower is refused)",
		"USERS_ARGON2_TIME":                    "argon2id passes",
		"USERS_ARGON2_THREADS":                 "argon2id lanes",
		"USERS_HASHER":                         "where password hashes run: `process`, in child processes of this binary at the lowest CPU priority (SCHED_IDLE), so that a login flood takes almost only CPU time nothing else wants, and in the serving process a job that waited there a second for CPU (ADR 35); or `inprocess`, in the serving process",
		"USERS_HASH_WORKERS":                   "password hashes run at once; more would let a login flood take the CPU from every other request",
		"USERS_HASH_QUEUE":                     "hashing jobs that may wait; beyond, 503 + `Retry-After` at once",
		"USERS_HASH_BUSY_PERCENT":              "the most of its time a hashing worker spends hashing while nothing else wants the CPUs: after a hash it rests long enough to stay under it, so that a login flood leaves the CPU idle part of the time (ADR 58); 100 never rests",
		"USERS_HASH_MAX_WAIT":                  "the longest a login may be expected to wait for a hashing worker, at the pace of their recent hashes and the rests the hashing share now asks after them; a login that would wait longer gets 503 + `Retry-After` at once, as one beyond `USERS_HASH_QUEUE` does (ADR 70); 0 bounds only the count",
		"USERS_HASH_YIELD_PERCENT":             "the machine's CPU use by other work (all but the hashing, measured each quarter second from `/proc/stat`) at which hashing's share has fallen, in step with it, to a fifth of `USERS_HASH_BUSY_PERCENT`, so that logins take less CPU from catalog reads the busier the machine is (ADR 68); 0 keeps the share fixed",
		"USERS_LOGIN_MAX_FAILURES_PER_ACCOUNT": "failed logins per account per window before 429",
		"USERS_LOGIN_MAX_FAILURES_PER_ADDRESS": "failed logins per client address per window before 429",
		"USERS_LOGIN_FAILURE_WINDOW":           "the throttling window",
		"USERS_PASSWORD_RESET_TTL":             "reset token lifetime",
		"USERS_PASSWORD_RESET_MAX_MAILS":       "reset mails per address per throttling window; more requests still get 202 but send nothing",
		"USERS_CONFIRMATION_RETRY_DELAY":       "wait before an order confirmation the mail server refused is tried again; other mail goes on meanwhile (ADR 40)",
		"USERS_CONFIRMATION_MAX_ATTEMPTS":      "tries of one order confirmation before its event goes to the dead-letter queue `users.order-confirmations.dlq` (the default with a 1m delay: a day of mail server outage)",
		"USERS_CONFIRMATION_CONSUMERS":         "batches of order confirmations handled at once, each of up to 16 orders with up to 4 mails sent at once; fewer make larger batches under load, which cost less per order (ADR 56)",
		"SMTP_HOST":                            "mail server; unset: mail is logged with a warning (local runs)",
		"SMTP_PORT":                            "mail server port",
		"SMTP_USERNAME":                        "SMTP AUTH PLAIN user name",
		"SMTP_PASSWORD":                        "secret: SMTP AUTH PLAIN password",
		"SMTP_FROM":                            "sender",
		"SMTP_TLS":                             "`starttls`, `tls` (implicit) or `none`",
	}
}

func (c *Config) validate(e *config.Env) {
	switch c.Hasher {
	case HasherProcess, HasherInProcess:
	default:
		e.Fail("USERS_HASHER", "want %s or %s, got %q", HasherProcess, HasherInProcess, c.Hasher)
	}
	switch c.Mail.TLS {
	case "starttls", "tls", "none":
	default:
		e.Fail("SMTP_TLS", "want starttls, tls or none, got %q", c.Mail.TLS)
	}
	if _, err := netmail.ParseAddress(c.Mail.From); err != nil {
		e.Fail("SMTP_FROM", "want an address such as Shop <no-reply@shop.example>, got %q", c.Mail.From)
	}
	if c.KeysJSON != "" && c.KeysFile != "" {
		e.Fail("AUTH_SIGNING_KEYS", "set either AUTH_SIGNING_KEYS or AUTH_SIGNING_KEYS_FILE, not both")
	}
	if c.AccessTTL > time.Hour {
		e.Fail("AUTH_ACCESS_TOKEN_TTL", "access tokens must be short-lived: at most 1h")
	}
}

// piiKeys returns the configured keys, or for local runs a key generated
// once and kept in the data directory.
func (c *Config) piiKeys() ([]fieldcrypt.Key, bool, error) {
	return fieldcrypt.KeysOrLocal(c.PIIKeys, filepath.Join(c.DataDir, "users", "pii-key"))
}
