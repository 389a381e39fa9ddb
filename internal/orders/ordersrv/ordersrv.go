package ordersrv

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/catalog"
	"github.com/marketplace-go/marketplace/internal/orders/orderapi"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// ProductsQueue is the queue the product projection consumes.
const ProductsQueue = "orders.products"

// Orders is the assembled service.
type Orders struct {
	Service *orders.Service
	Store   *orderdb.Store
	Relay   *outbox.Relay
	// Gateway is the payment gateway in use; tests count its charges.
	Gateway orders.PaymentGateway
	pool    *pgxpool.Pool
	pub     *events.LazyPublisher
	api     *orderapi.API
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// New connects to the database, migrates it when configured to, and
// starts the relay, the product consumer and the background sweeper.
func New(ctx context.Context, cfg Config, deps server.Deps) (*Orders, error) {
	return NewWithPayments(ctx, cfg, deps, nil)
}

// NewWithPayments is New with gateway in place of the configured payment
// gateway when not nil: tests use it to inject failures.
func NewWithPayments(ctx context.Context, cfg Config, deps server.Deps, gateway orders.PaymentGateway) (_ *Orders, err error) {
	log, reg := deps.Log.With("service", "orders"), deps.Registry
	o := &Orders{}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	if o.pool, err = pg.Open(ctx, cfg.DatabaseURL, pg.WithMetrics(reg, "orders"), pg.WithTracer(deps.Tracer)); err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	if cfg.Migrate {
		if err = pg.Migrate(ctx, o.pool, orderdb.Migrations(), log); err != nil {
			return nil, fmt.Errorf("orders: %w", err)
		}
	}
	var webhook orderapi.WebhookVerifier
	if gateway == nil {
		if gateway, webhook, err = newGateway(cfg, log, deps); err != nil {
			return nil, fmt.Errorf("orders: %w", err)
		}
	}
	o.Gateway = gateway
	pii, err := cfg.keyring(log)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	o.Store = orderdb.New(o.pool, pii)
	o.Service = orders.NewService(o.Store, catalog.New(catalog.Config{BaseURL: cfg.ProductsURL}, tracing.Client(nil, deps.Tracer)), payment.Traced(gateway, cfg.Gateway, deps.Tracer), log, orders.Config{
		ReservationTTL: cfg.ReservationTTL, ChargeTimeout: cfg.ChargeTimeout, Provider: cfg.Gateway})
	cfg.Events.Metrics = events.NewMetrics(reg)
	cfg.Events.Tracer = deps.Tracer
	if err = cfg.Events.Validate(); err != nil {
		return nil, fmt.Errorf("orders: RABBITMQ_URL: %w", err)
	}
	o.pub = events.NewLazyPublisher(cfg.Events, log)
	o.Relay = outbox.NewRelayWithOptions(o.pool, o.pub, log, cfg.RelayInterval, outbox.Options{Name: "orders", Registerer: reg})
	o.Service.OnEvents(o.Relay.Notify)
	if reg != nil {
		o.Service.SetMetrics(newBusinessMetrics(reg, cfg.Gateway))
		_ = reg.Register(newPaymentsCollector(o.Store)) // a second instance in one process (tests) reads the same database
	}
	consumer, err := events.NewConsumer(cfg.Events, log)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	verifier := auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: cfg.JWKSURL}), auth.VerifierConfig{Issuer: cfg.Issuer, Audience: cfg.Audience})
	o.api = orderapi.New(o.Service, o.Store, verifier, webhook, log)

	runCtx, stop := context.WithCancel(context.Background())
	o.stop = stop
	o.wg.Go(func() { o.Relay.Run(runCtx) })
	o.wg.Go(func() {
		cc := events.ConsumerConfig{Queue: ProductsQueue, Bindings: []string{"product.*"},
			RetryDelay: cfg.ProductRetryDelay, MaxAttempts: cfg.ProductMaxAttempts}
		if err := consumer.Consume(runCtx, cc, o.Service.ApplyProductEvent); err != nil {
			log.Error("product events consumer stopped", "err", err)
		}
	})
	o.wg.Go(func() { o.Service.RunBackground(runCtx, cfg.SweepInterval, cfg.ResolveGrace) })
	o.wg.Go(func() { o.prune(runCtx, cfg.KeyRetention, log) })
	return o, nil
}

// newGateway builds the configured payment gateway and, for Stripe, the
// webhook verifier.
func newGateway(cfg Config, log *slog.Logger, deps server.Deps) (orders.PaymentGateway, orderapi.WebhookVerifier, error) {
	if cfg.Gateway != "stripe" {
		return payment.NewSimulated(cfg.Simulated), nil, nil
	}
	cfg.Stripe.Logger = log
	cfg.Stripe.Tracer = deps.Tracer
	s, err := payment.NewStripe(cfg.Stripe)
	if err != nil {
		return nil, nil, err
	}
	verify := func(payload []byte, signature string) (orders.PaymentNotice, bool, error) {
		ev, err := s.VerifyWebhook(payload, signature, time.Time{})
		if err != nil || ev.Status == "" {
			return orders.PaymentNotice{}, false, err
		}
		return orders.PaymentNotice{OrderID: ev.OrderID, ChargeID: ev.PaymentIntentID, Status: ev.Status}, true, nil
	}
	return s, verify, nil
}

// prune deletes idempotency keys and inbox entries past their retention,
// hourly.
func (o *Orders) prune(ctx context.Context, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := o.Store.PruneKeys(ctx, retention); err != nil && ctx.Err() == nil {
			log.Warn("prune idempotency keys", "err", err)
		}
		if _, err := outbox.PruneInbox(ctx, o.pool, 7*24*time.Hour); err != nil && ctx.Err() == nil {
			log.Warn("prune inbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Module returns the service as the server runs it.
func (o *Orders) Module(addr string) server.Module {
	return server.Module{Name: "orders", Addr: addr, Routes: o.Routes, Ready: o.Ready, Close: o.Close}
}

// Routes registers the HTTP endpoints.
func (o *Orders) Routes(rt *httpx.Router) { o.api.Routes(rt) }

// Ready reports whether the orders database answers. RabbitMQ is not
// required: events wait in the outbox, and the projection catches up.
func (o *Orders) Ready(ctx context.Context) error { return o.pool.Ping(ctx) }

// Close stops the background work and closes every connection.
func (o *Orders) Close() {
	if o.stop != nil {
		o.stop()
	}
	o.wg.Wait()
	o.close()
}

func (o *Orders) close() {
	if o.pub != nil {
		o.pub.Close()
	}
	if o.pool != nil {
		o.pool.Close()
	}
}

// Migrate applies the orders database's migrations.
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	defer pool.Close()
	return pg.Migrate(ctx, pool, orderdb.Migrations(), log)
}

// OpenStore connects to the orders database and migrates it, for tools
// such as the demo seeder; close releases it.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (_ *orderdb.Store, close func(), err error) {
	pii, err := cfg.keyring(log)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: %w", err)
	}
	pool, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: %w", err)
	}
	if err := pg.Migrate(ctx, pool, orderdb.Migrations(), log); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("orders: %w", err)
	}
	return orderdb.New(pool, pii), pool.Close, nil
}
