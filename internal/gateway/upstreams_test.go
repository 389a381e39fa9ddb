package gateway_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/discovery/etcdtest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
)

func TestAnInstanceFailingItsHealthChecksGetsNoRequestsUntilItPasses(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	draining, good := newUpstream(t, "draining"), newUpstream(t, "good")
	urls["products"] = []string{draining.URL, good.URL}
	e := start(t, urls)

	draining.ready.Store(http.StatusServiceUnavailable)
	eventually.True(t, "the gateway marks the failing instance down", func() bool {
		labels := []string{"upstream", "products", "instance", draining.URL}
		return hasSeries(t, e, "gateway_upstream_instance_up", labels...) && metricValue(t, e, "gateway_upstream_instance_up", labels...) == 0
	})
	before := draining.hits.Load()
	for range 20 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
	if n := draining.hits.Load() - before; n != 0 {
		t.Errorf("an instance failing /readyz got %d of 20 requests", n)
	}

	draining.ready.Store(http.StatusOK)
	eventually.True(t, "the instance gets requests again once it passes", func() bool {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
		return draining.hits.Load() > before
	})
}

func TestTheBreakerOpensWhenAServiceKeepsFailingAndClosesWhenItRecovers(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	orders := ups["orders"]
	orders.status.Store(http.StatusBadGateway)
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) {
		c.BreakerFailures, c.BreakerOpenFor, c.EjectAfter = 3, 300*time.Millisecond, 1000
	})
	for range 3 {
		e.Do(t, httpxtest.Anonymous, "POST", "/v1/orders", `{}`).Want(t, http.StatusBadGateway)
	}
	hits := orders.hits.Load()
	r := e.Do(t, httpxtest.Anonymous, "POST", "/v1/orders", `{}`)
	r.WantProblem(t, http.StatusServiceUnavailable, "service_unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("an open breaker's 503 has no Retry-After")
	}
	if orders.hits.Load() != hits {
		t.Error("a request went through the open breaker")
	}
	if got := metricValue(t, e, "gateway_upstream_breaker_state", "upstream", "orders"); got != 2 {
		t.Errorf("breaker state metric %v, want 2 (open)", got)
	}
	// Other services are not affected.
	e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)

	orders.status.Store(http.StatusOK)
	eventually.True(t, "the breaker lets requests through again", func() bool {
		return e.Do(t, httpxtest.Anonymous, "POST", "/v1/orders", `{}`).Status == http.StatusOK
	})
}

func TestLeastInFlightSendsNothingMoreToABusyInstance(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	busy, idle := newUpstream(t, "busy"), newUpstream(t, "idle")
	busy.hold = make(chan struct{})
	urls["products"] = []string{busy.URL, idle.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.Balance = gateway.LeastInFlight })

	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(busy.hold)
	for range 20 {
		before := busy.hits.Load()
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil)
		})
		select {
		case <-done: // the idle instance answered
		case <-time.After(2 * time.Second):
			if busy.hits.Load() == before {
				t.Fatal("a request is stuck")
			}
		}
	}
	if n := busy.hits.Load(); n > 1 {
		t.Errorf("the busy instance got %d requests while it held one", n)
	}
}

func TestInstancesRegisteredInEtcdGetRequestsUntilTheyDeregister(t *testing.T) {
	t.Parallel()
	endpoints := etcdtest.Start(t)
	ctx := context.Background()
	cli, err := discovery.Dial(ctx, endpoints)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	prefix := "/test-" + t.Name() + "/"
	urls, _ := services(t)
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	log := logtest.New(t, slog.LevelError)
	regA, err := discovery.Register(ctx, cli, prefix, "products", a.URL, 5*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]gateway.Source{
		"users":    discovery.Static(urls["users"]...),
		"orders":   discovery.Static(urls["orders"]...),
		"products": discovery.Etcd{Client: cli, Prefix: prefix, Service: "products", Log: log},
	}
	e := startWith(t, sources)
	eventually.True(t, "the registered instance gets requests", func() bool {
		return e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Status == http.StatusOK
	})

	regB, err := discovery.Register(ctx, cli, prefix, "products", b.URL, 5*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = regB.Close(context.Background()) })
	eventually.True(t, "a new instance gets requests", func() bool {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
		return b.hits.Load() > 0
	})

	if err := regA.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The gateway forgets a removed instance's series under the lock that
	// removes it from the pool: once the series is gone, so is the instance.
	eventually.True(t, "the gateway drops the deregistered instance", func() bool {
		return !hasSeries(t, e, "gateway_upstream_instance_up", "upstream", "products", "instance", a.URL)
	})
	before := a.hits.Load()
	for range 10 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
	if n := a.hits.Load() - before; n != 0 {
		t.Errorf("a deregistered instance got %d of 10 requests", n)
	}
}
