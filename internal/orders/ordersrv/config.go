// Package ordersrv assembles the orders service: its PostgreSQL database,
// the product projection fed by events and by the catalog client, the
// payment gateway, the outbox relay, the background sweeper and the HTTP
// API.
package ordersrv

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

// Config is the orders service's configuration.
type Config struct {
	DatabaseURL string
	Migrate     bool
	ProductsURL string
	JWKSURL     string
	Issuer      string
	Audience    string
	Events      events.Config
	DataDir     string
	// PIIKeys seal shipping addresses; with none, a local key is kept in
	// DataDir.
	PIIKeys []fieldcrypt.Key // secret

	ReservationTTL time.Duration
	ChargeTimeout  time.Duration
	SweepInterval  time.Duration
	ResolveGrace   time.Duration
	RelayInterval  time.Duration
	KeyRetention   time.Duration

	// ProductRetryDelay and ProductMaxAttempts are how the product
	// projection retries an event it could not apply before the event is
	// dead-lettered; zero takes the consumer's defaults.
	ProductRetryDelay  time.Duration
	ProductMaxAttempts int

	// Gateway is "simulated" or "stripe".
	Gateway   string
	Simulated payment.SimulatedConfig
	Stripe    payment.StripeConfig
}

// LoadConfig reads the ORDERS_* and STRIPE_* variables.
func LoadConfig(e *config.Env, sh config.Shared) Config {
	e.Describe(configDocs())
	c := Config{
		DatabaseURL:    e.URL("ORDERS_DATABASE_URL", pg.WithDatabase(sh.PostgresURL, "orders"), "postgres", "postgresql"),
		Migrate:        sh.Migrate,
		ProductsURL:    e.URL("ORDERS_PRODUCTS_URL", "http://localhost:8082", "http", "https"),
		JWKSURL:        sh.JWKSURL,
		Issuer:         sh.Issuer,
		Audience:       sh.Audience,
		Events:         events.Config{URL: sh.AMQPURL, Name: "orders"},
		DataDir:        sh.DataDir,
		ReservationTTL: e.Duration("ORDERS_RESERVATION_TTL", 15*time.Minute),
		ChargeTimeout:  e.Duration("ORDERS_CHARGE_TIMEOUT", 15*time.Second),
		SweepInterval:  e.Duration("ORDERS_SWEEP_INTERVAL", 5*time.Second),
		ResolveGrace:   e.Duration("ORDERS_RESOLVE_GRACE", 30*time.Second),
		RelayInterval:  e.Duration("ORDERS_RELAY_INTERVAL", 5*time.Second),
		KeyRetention:   e.Duration("ORDERS_IDEMPOTENCY_RETENTION", 48*time.Hour),
		// An event fails to apply only while the database is away (or when
		// it is unreadable, which retrying does not mend but does not harm):
		// a day of retries outlasts an outage, where the consumer's default
		// five in five seconds dead-lettered the events of a database
		// restart, and a product's projection stayed as it was until the
		// product changed again.
		ProductRetryDelay:  e.Duration("ORDERS_PRODUCT_EVENTS_RETRY_DELAY", 5*time.Second),
		ProductMaxAttempts: e.Int("ORDERS_PRODUCT_EVENTS_MAX_ATTEMPTS", 17280, 1, 1<<20),
		Gateway:            e.String("ORDERS_PAYMENT_GATEWAY", "simulated"),
		Simulated: payment.SimulatedConfig{
			Latency:     e.DurationOrZero("ORDERS_SIMULATED_LATENCY", 0),
			DeclineRate: float64(e.Int("ORDERS_SIMULATED_DECLINE_PERCENT", 0, 0, 100)) / 100,
			Seed:        int64(e.Int("ORDERS_SIMULATED_SEED", 1, 0, 1<<31-1)),
		},
		Stripe: payment.StripeConfig{
			SecretKey:     e.String("STRIPE_SECRET_KEY", ""),
			APIBase:       e.String("STRIPE_API_BASE", ""),
			WebhookSecret: e.String("STRIPE_WEBHOOK_SECRET", ""),
		},
	}
	e.ShowDefault("ORDERS_DATABASE_URL", "`POSTGRES_URL` with database `orders`")
	e.ShowDefault("STRIPE_API_BASE", "(Stripe's API)")
	for _, k := range e.Keys("ORDERS_PII_KEYS", fieldcrypt.KeySize) {
		c.PIIKeys = append(c.PIIKeys, fieldcrypt.Key{ID: k.ID, Secret: k.Secret})
	}
	switch c.Gateway {
	case "simulated":
	case "stripe":
		if c.Stripe.SecretKey == "" {
			e.Fail("STRIPE_SECRET_KEY", "required when ORDERS_PAYMENT_GATEWAY=stripe")
		}
	default:
		e.Fail("ORDERS_PAYMENT_GATEWAY", "want simulated or stripe")
	}
	if c.KeyRetention < 24*time.Hour {
		e.Fail("ORDERS_IDEMPOTENCY_RETENTION", "at least 24h: clients may retry a day later")
	}
	if c.ResolveGrace <= c.ChargeTimeout {
		e.Fail("ORDERS_RESOLVE_GRACE", "must be longer than ORDERS_CHARGE_TIMEOUT, or the resolver races requests still waiting for the provider")
	}
	return c
}

// configDocs describe the variables LoadConfig reads, for the
// configuration reference (docs/configuration.md).
func configDocs() config.Docs {
	return config.Docs{
		"ORDERS_DATABASE_URL":                "orders database; created on start when missing and the role may",
		"ORDERS_PRODUCTS_URL":                "the products service, read for products the orders service has no copy of yet (in one process: the products listener)",
		"ORDERS_PII_KEYS":                    "secret: `id:base64key,...` AES-256 keys for orders' shipping addresses; first encrypts, all decrypt; with none, a key is generated in `$DATA_DIR/orders/pii-key`",
		"ORDERS_RESERVATION_TTL":             "how long checkout holds stock for an unpaid order",
		"ORDERS_PAYMENT_GATEWAY":             "`simulated` or `stripe`",
		"ORDERS_CHARGE_TIMEOUT":              "how long one call to the payment provider may take; past it the outcome is resolved in the background",
		"ORDERS_RESOLVE_GRACE":               "age of an unresolved payment before the resolver asks the provider again (longer than the charge timeout)",
		"ORDERS_SWEEP_INTERVAL":              "how often expired reservations and unresolved payments are looked for",
		"ORDERS_RELAY_INTERVAL":              "how often the outbox relay looks for events it was not told about; every commit wakes it at once",
		"ORDERS_IDEMPOTENCY_RETENTION":       "how long `Idempotency-Key` answers are kept (at least 24h)",
		"ORDERS_PRODUCT_EVENTS_RETRY_DELAY":  "wait before a product event the projection could not apply (its database away) is tried again",
		"ORDERS_PRODUCT_EVENTS_MAX_ATTEMPTS": "tries of a product event before it is dead-lettered; the default, with the delay, covers a day",
		"ORDERS_SIMULATED_LATENCY":           "the simulated gateway's delay per call",
		"ORDERS_SIMULATED_DECLINE_PERCENT":   "share of charges the simulated gateway declines (`pm_card_declined` always is)",
		"ORDERS_SIMULATED_SEED":              "makes the simulated declines reproducible",
		"STRIPE_SECRET_KEY":                  "secret: Stripe API key; required with `ORDERS_PAYMENT_GATEWAY=stripe`",
		"STRIPE_API_BASE":                    "another API base, such as stripe-mock's",
		"STRIPE_WEBHOOK_SECRET":              "secret: the webhook endpoint's signing secret (`whsec_...`)",
	}
}

// piiKeys returns the configured keys, or for local runs a key generated
// once and kept in the data directory.
func (c *Config) piiKeys() ([]fieldcrypt.Key, bool, error) {
	return fieldcrypt.KeysOrLocal(c.PIIKeys, filepath.Join(c.DataDir, "orders", "pii-key"))
}

// keyring builds the keyring that seals shipping addresses, warning when
// the key is a local one made now.
func (c *Config) keyring(log *slog.Logger) (*fieldcrypt.Keyring, error) {
	keys, generated, err := c.piiKeys()
	if err != nil {
		return nil, err
	}
	if generated {
		log.Warn("ORDERS_PII_KEYS is not set: generated a local PII key in the data directory; configure keys in production")
	}
	k, err := fieldcrypt.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("ORDERS_PII_KEYS: %w", err)
	}
	return k, nil
}
