// Package searchsrv assembles the search service: the Bleve index under
// its data directory, the consumer of product events, the rebuild from the
// products service, the shop names read from the users service, token
// verification against the users service's JWKS, and the HTTP API.
package searchsrv

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/catalog"
	"github.com/marketplace-go/marketplace/internal/search/searchapi"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
	"github.com/marketplace-go/marketplace/internal/search/shops"
)

// Search is the assembled service.
type Search struct {
	Service  *search.Service
	Index    *searchindex.Index
	consumer *events.Consumer
	api      *searchapi.API
	stop     context.CancelFunc
	wg       sync.WaitGroup
	// maxInFlight bounds the searches run at once (Config.MaxInFlight).
	maxInFlight int
}

// indexDir is where the Bleve files are, inside Config.Dir.
const indexDir = "index"

// New opens (or creates) the index and starts the event consumers, the
// index writer, and the upkeep that builds the index when it is empty and
// catches up when it is behind. It does not wait for a build: until one
// is done, Ready reports the service not ready.
func New(ctx context.Context, cfg Config, deps server.Deps) (_ *Search, err error) {
	log, reg := deps.Log.With("service", "search"), deps.Registry
	s := &Search{maxInFlight: cfg.MaxInFlight}
	if s.Index, err = searchindex.Open(filepath.Join(cfg.Dir, indexDir)); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.Index.Close()
		}
	}()
	queue := cfg.Queue
	if queue == "" {
		if queue, err = instanceQueue(cfg.Dir); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	cfg.Events.Metrics = events.NewMetrics(reg)
	cfg.Events.Tracer = deps.Tracer
	if s.consumer, err = events.NewConsumer(cfg.Events, log); err != nil {
		return nil, fmt.Errorf("search: RABBITMQ_URL: %w", err)
	}
	var names search.Shops
	if cfg.UsersURL != "" {
		names = shops.New(cfg.UsersURL, 30*time.Second, deps.Tracer)
	}
	s.Service = search.NewService(s.Index, catalog.New(cfg.ProductsURL, 30*time.Second, deps.Tracer), names, log,
		search.Config{PageSize: cfg.PageSize, Settle: cfg.Settle})
	s.Service.OnApplied = newMetrics(reg, s.Index).applied
	verifier := auth.NewVerifier(auth.NewJWKS(auth.JWKSConfig{URL: cfg.JWKSURL}), auth.VerifierConfig{Issuer: cfg.Issuer, Audience: cfg.Audience})
	s.api = searchapi.New(s.Service, verifier, log)
	s.start(cfg, queue, log)
	return s, nil
}

// start runs the background work: consumers first, so that the queue is
// bound before a build reads the catalog (an event published before the
// binding would reach no queue).
func (s *Search) start(cfg Config, queue string, log *slog.Logger) {
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() { s.Service.RunWriter(runCtx) })
	cc := events.ConsumerConfig{Queue: queue, Bindings: []string{"product.*"}, Prefetch: 64, Expires: cfg.QueueExpires}
	for range cfg.Consumers {
		s.wg.Go(func() {
			if err := s.consumer.Consume(runCtx, cc, s.Service.ApplyProductEvent); err != nil {
				log.Error("product events consumer stopped", "err", err)
			}
		})
	}
	s.wg.Go(func() { s.Service.FollowCategories(runCtx, cfg.CategoriesInterval) })
	s.wg.Go(func() { s.Service.FollowShops(runCtx, cmp.Or(cfg.ShopsInterval, 30*time.Second)) })
	s.wg.Go(func() {
		s.awaitSubscription(runCtx, 10*time.Second)
		s.Service.Maintain(runCtx, cfg.CheckInterval)
	})
}

// awaitSubscription waits, at most max, for the consumers to subscribe.
// Without a broker the index is built all the same; the periodic check
// finds what that misses.
func (s *Search) awaitSubscription(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	time.Sleep(50 * time.Millisecond) // lets the consumers start counting themselves down
	for s.consumer.Ready(ctx) != nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

// instanceQueue returns the queue name of this instance, from an id kept
// in dir (made on first start).
func instanceQueue(dir string) (string, error) {
	path := filepath.Join(dir, "instance")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		b = []byte(hex.EncodeToString(id))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return "search.products." + strings.TrimSpace(string(b)), nil
}

// Module returns the service as the server runs it.
func (s *Search) Module(addr string) server.Module {
	return server.Module{Name: "search", Addr: addr, Routes: s.Routes, Ready: s.Ready, Close: s.Close, MaxInFlight: s.maxInFlight}
}

// Routes registers the HTTP endpoints.
func (s *Search) Routes(rt *httpx.Router) { s.api.Routes(rt) }

// Ready reports whether the index can answer. Neither RabbitMQ nor the
// products service is required: without them the index answers with what
// it holds, and catches up once they are back.
func (s *Search) Ready(context.Context) error { return s.Service.Ready() }

// Close stops the background work and closes the index.
func (s *Search) Close() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
	_ = s.Index.Close()
}

// Migrate creates the index if there is none, so that a deployment can
// prepare the data directory before serving.
func Migrate(_ context.Context, cfg Config, _ *slog.Logger) error {
	x, err := searchindex.Open(filepath.Join(cfg.Dir, indexDir))
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	return x.Close()
}
