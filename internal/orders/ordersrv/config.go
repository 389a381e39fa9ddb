// Package ordersrv assembles the orders service: its PostgreSQL database,
// the product projection fed by events and by the catalog client, the
// payment gateway, the outbox relay, the background sweeper and the HTTP
// API.
package ordersrv

import (
	"time"

	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

// Config is the orders service's configuration.
type Config struct {
	Addr        string
	DatabaseURL string
	Migrate     bool
	ProductsURL string
	JWKSURL     string
	Issuer      string
	Audience    string
	Events      events.Config

	ReservationTTL time.Duration
	ChargeTimeout  time.Duration
	SweepInterval  time.Duration
	ResolveGrace   time.Duration
	RelayInterval  time.Duration
	KeyRetention   time.Duration

	// Gateway is "simulated" or "stripe".
	Gateway   string
	Simulated payment.SimulatedConfig
	Stripe    payment.StripeConfig
}

// Shared are settings the service takes from the root configuration.
type Shared struct {
	PostgresURL string
	Migrate     bool
	Issuer      string
	Audience    string
	JWKSURL     string
	AMQPURL     string
	ProductsURL string
}

// LoadConfig reads the ORDERS_* and STRIPE_* variables.
func LoadConfig(e *config.Env, sh Shared) Config {
	c := Config{
		Addr:           e.String("ORDERS_ADDR", ":8083"),
		DatabaseURL:    e.URL("ORDERS_DATABASE_URL", pg.WithDatabase(sh.PostgresURL, "orders"), "postgres", "postgresql"),
		Migrate:        sh.Migrate,
		ProductsURL:    sh.ProductsURL,
		JWKSURL:        sh.JWKSURL,
		Issuer:         sh.Issuer,
		Audience:       sh.Audience,
		Events:         events.Config{URL: sh.AMQPURL, Name: "orders"},
		ReservationTTL: e.Duration("ORDERS_RESERVATION_TTL", 15*time.Minute),
		ChargeTimeout:  e.Duration("ORDERS_CHARGE_TIMEOUT", 15*time.Second),
		SweepInterval:  e.Duration("ORDERS_SWEEP_INTERVAL", 5*time.Second),
		ResolveGrace:   e.Duration("ORDERS_RESOLVE_GRACE", 30*time.Second),
		RelayInterval:  e.Duration("ORDERS_RELAY_INTERVAL", 5*time.Second),
		KeyRetention:   e.Duration("ORDERS_IDEMPOTENCY_RETENTION", 48*time.Hour),
		Gateway:        e.String("ORDERS_PAYMENT_GATEWAY", "simulated"),
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
