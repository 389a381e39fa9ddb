// Package productsrv assembles the products service: MongoDB (or an
// embedded FerretDB), the Redis cache, the event relay to RabbitMQ, token
// verification against the users service's JWKS, and the HTTP API.
package productsrv

import (
	"context"
	"fmt"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/cache"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/mongo"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productapi"
	"github.com/marketplace-go/marketplace/internal/products/productdb"
)

// nearTTL bounds how long an instance keeps an entry in memory, should an
// invalidation be lost without its connection failing.
const nearTTL = time.Minute

// Config is the products service's configuration.
type Config struct {
	Mongo       mongo.Config
	RedisURL    string
	CachePrefix string
	// CacheTTL is how long product details and the category tree stay cached
	// (PRODUCTS_CACHE_TTL); zero caches nothing, to measure the store.
	CacheTTL time.Duration
	// NearEntries is how many of those entries each instance also keeps
	// in its own memory, in front of Redis (PRODUCTS_NEAR_CACHE_ENTRIES);
	// zero keeps none.
	NearEntries   int
	Events        events.Config
	RelayInterval time.Duration
	JWKSURL       string
	Issuer        string
	Audience      string
}

// LoadConfig reads the PRODUCTS_*, MONGODB_* and FERRETDB_* variables.
// The embedded FerretDB keeps the catalog on the shared PostgreSQL server
// when MONGODB_URI is unset.
func LoadConfig(e *config.Env, sh config.Shared) Config {
	e.Describe(configDocs())
	c := Config{
		Mongo: mongo.Config{URI: e.URL("MONGODB_URI", "", "mongodb", "mongodb+srv"), Database: e.String("MONGODB_DATABASE", "catalog"),
			EmbeddedPostgresURL: e.URL("FERRETDB_POSTGRES_URL", pg.WithDatabase(sh.PostgresURL, "catalog"), "postgres", "postgresql")},
		RedisURL:      sh.RedisURL,
		CachePrefix:   e.String("PRODUCTS_CACHE_PREFIX", "products:"),
		CacheTTL:      e.DurationOrZero("PRODUCTS_CACHE_TTL", 10*time.Minute),
		NearEntries:   e.Int("PRODUCTS_NEAR_CACHE_ENTRIES", 10_000, 0, 10_000_000),
		Events:        events.Config{URL: sh.AMQPURL, Name: "products"},
		RelayInterval: e.Duration("PRODUCTS_RELAY_INTERVAL", 10*time.Second),
		JWKSURL:       sh.JWKSURL,
		Issuer:        sh.Issuer,
		Audience:      sh.Audience,
	}
	e.ShowDefault("FERRETDB_POSTGRES_URL", "`POSTGRES_URL` with database `catalog`")
	if c.CacheTTL > cache.MaxTTL {
		e.Fail("PRODUCTS_CACHE_TTL", "at most %s: cached pages must not outlive their invalidation", cache.MaxTTL)
	}
	return c
}

// configDocs describe the variables LoadConfig reads, for the
// configuration reference (docs/configuration.md).
func configDocs() config.Docs {
	return config.Docs{
		"MONGODB_URI":                 "the catalog's MongoDB; unset: an embedded FerretDB on PostgreSQL (`FERRETDB_POSTGRES_URL`); TLS: `tls=true&tlsCAFile=...&tlsCertificateKeyFile=...` (docs/deploy.md)",
		"MONGODB_DATABASE":            "the catalog database",
		"FERRETDB_POSTGRES_URL":       "where the embedded FerretDB keeps the catalog when `MONGODB_URI` is unset; created on start when missing and the role may",
		"PRODUCTS_CACHE_PREFIX":       "Redis key prefix, to share one Redis between deployments",
		"PRODUCTS_CACHE_TTL":          "lifetime of cached product details and of the category tree; every write invalidates its entries at once, so the TTL only bounds memory; `0s` caches nothing",
		"PRODUCTS_NEAR_CACHE_ENTRIES": "how many cached entries each instance also keeps in memory, in front of Redis, for at most `PRODUCTS_CACHE_TTL` or a minute; Redis tells every instance of each write, and an instance that cannot hear it keeps none (docs/adr/0065-a-near-cache-that-listens.md); `0` keeps none",
		"PRODUCTS_RELAY_INTERVAL":     "how often the event relay looks for unpublished events it was not told about (left by a crash or a stopped instance); every write wakes it at once",
	}
}

// Products is the assembled service.
type Products struct {
	Service *products.Service
	Store   *productdb.Store
	Relay   *products.Relay
	db      *mongo.DB
	redis   *redis.Client
	pub     *events.LazyPublisher
	api     *productapi.API
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// Migrate creates the catalog's collections and indexes and returns; New
// does the same on every start (it is cheap once done).
func Migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	db, err := mongo.Open(ctx, cfg.Mongo, log.With("service", "products"))
	if err != nil {
		return fmt.Errorf("products: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = db.Close(ctx)
	}()
	return setUp(ctx, db, productdb.New(db.Database, db.Tally))
}

// setUp creates the collections and indexes the store's queries need.
func setUp(ctx context.Context, db *mongo.DB, store *productdb.Store) error {
	if err := store.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("products: %w", err)
	}
	if err := db.IndexEqualities(ctx, "products", productdb.EqualityFields...); err != nil {
		return fmt.Errorf("products: %w", err)
	}
	return nil
}

// New connects to its stores and the broker and starts the event relay.
func New(ctx context.Context, cfg Config, deps server.Deps) (_ *Products, err error) {
	log, reg := deps.Log.With("service", "products"), deps.Registry
	p := &Products{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	cfg.Mongo.Tracer = deps.Tracer
	if p.db, err = mongo.Open(ctx, cfg.Mongo, log, mongo.WithMetrics(reg, "catalog")); err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	p.Store = productdb.New(p.db.Database, p.db.Tally)
	if err = setUp(ctx, p.db, p.Store); err != nil {
		return nil, err
	}
	opts, err := cache.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("products: REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true // a call the cache gave up on stops too
	p.redis = redis.NewClient(opts)
	cache.Instrument(p.redis, reg, "products")
	if deps.Tracer != nil {
		// Only commands of a traced request: the cache's own background
		// work would otherwise start traces of its own.
		if err := redisotel.InstrumentTracing(p.redis, redisotel.WithTracerProvider(tracing.ChildrenOnly(deps.Tracer)),
			redisotel.WithDBStatement(false)); err != nil {
			return nil, fmt.Errorf("products: trace redis: %w", err)
		}
	}
	var near []cache.Option
	if cfg.NearEntries > 0 {
		near = append(near, cache.WithNear(cfg.NearEntries, nearTTL))
	}
	c := cache.New(p.redis, cfg.CachePrefix, reg, log, near...)
	cfg.Events.Metrics = events.NewMetrics(reg)
	cfg.Events.Tracer = deps.Tracer
	if err := cfg.Events.Validate(); err != nil {
		return nil, fmt.Errorf("products: RABBITMQ_URL: %w", err)
	}
	p.pub = events.NewLazyPublisher(cfg.Events, log)
	p.Service = products.NewService(p.Store, c, log, cfg.CacheTTL)
	verifier := auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: cfg.JWKSURL}), auth.VerifierConfig{Issuer: cfg.Issuer, Audience: cfg.Audience})
	p.api = productapi.New(p.Service, verifier, log)
	p.Relay = products.NewRelay(p.Store, p.pub, log, cfg.RelayInterval)
	p.Service.OnWrite(p.Relay.Notify)
	runCtx, stop := context.WithCancel(context.Background())
	p.stop = stop
	p.wg.Go(func() { p.Relay.Run(runCtx) })
	p.wg.Go(func() { c.RunNear(runCtx) })
	return p, nil
}

// Module returns the service as the server runs it.
func (p *Products) Module(addr string) server.Module {
	return server.Module{Name: "products", Addr: addr, Routes: p.Routes, Ready: p.Ready, Close: p.Close}
}

// Routes registers the HTTP endpoints.
func (p *Products) Routes(rt *httpx.Router) { p.api.Routes(rt) }

// Ready reports whether the catalog database answers. Redis and RabbitMQ
// are not required: reads fall back to the database and events wait in
// their documents until the broker is back.
func (p *Products) Ready(ctx context.Context) error { return p.db.Ping(ctx) }

// Close stops the relay and closes every connection.
func (p *Products) Close() {
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
	p.close()
}

func (p *Products) close() {
	if p.pub != nil {
		p.pub.Close()
	}
	if p.redis != nil {
		_ = p.redis.Close()
	}
	if p.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.db.Close(ctx)
	}
}
