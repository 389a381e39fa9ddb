package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// catalog is a products instance whose listing takes longer than any
// gateway timeout in these tests and whose product detail answers at once.
type catalog struct {
	url     string
	details atomic.Int32 // detail reads answered
}

func newCatalog(t *testing.T) *catalog {
	t.Helper()
	c := &catalog{}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/readyz":
		case r.URL.Path == "/v1/products": // a listing: as slow as a cold catalog
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		case strings.HasPrefix(r.URL.Path, "/v1/products/"):
			c.details.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"p1"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	c.url = srv.URL
	return c
}

func TestAListingThatTakesLongNeverTakesProductDetailReadsDownWithIt(t *testing.T) {
	t.Parallel()
	for _, instances := range []int{1, 2} {
		t.Run(strconv.Itoa(instances)+" instances", func(t *testing.T) {
			t.Parallel()
			urls, _ := services(t)
			var catalogs []*catalog
			urls["products"] = nil
			for range instances {
				c := newCatalog(t)
				catalogs = append(catalogs, c)
				urls["products"] = append(urls["products"], c.url)
			}
			e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) {
				c.Timeout, c.EjectAfter, c.BreakerFailures = 500*time.Millisecond, 1, 3
			})
			slowListingsBesideDetails(t, e)
			var before []int32
			for _, c := range catalogs {
				before = append(before, c.details.Load())
			}
			for range 10 {
				e.Do(t, httpxtest.Anonymous, "GET", detail, nil).Want(t, http.StatusOK)
			}
			for i, c := range catalogs {
				if c.details.Load() == before[i] {
					t.Errorf("instance %d got none of the last 10 detail reads: the listing timeouts left it out", i)
				}
			}
			if got := metricValue(t, e, "gateway_upstream_breaker_state", "upstream", "products"); got != 0 {
				t.Errorf("after 12 listing timeouts the products breaker is in state %v, want 0 (closed)", got)
			}
		})
	}
}

const detail = "/v1/products/0193a6d0-0000-7000-8000-000000000001"

// slowListingsBesideDetails has four clients time out on listings, three
// each, while product details are read: every detail read must answer 200.
func slowListingsBesideDetails(t *testing.T, e env) {
	t.Helper()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).WantProblem(t, http.StatusServiceUnavailable, "upstream_timeout")
			}
		})
	}
	for range 40 {
		e.Do(t, httpxtest.Anonymous, "GET", detail, nil).Want(t, http.StatusOK)
	}
	wg.Wait()
}

func TestTheLastInstanceIsNeverEjected(t *testing.T) {
	t.Parallel()
	urls, ups := services(t)
	sick := ups["products"]
	sick.status.Store(http.StatusBadGateway)
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.EjectAfter, c.BreakerFailures = 1, 1000 })
	for range 10 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusBadGateway)
	}
	if n := sick.hits.Load(); n < 10 {
		t.Errorf("the only instance got %d of 10 requests: it was left out", n)
	}
	sick.status.Store(http.StatusOK)
	e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
}

func TestOfTwoFailingInstancesOneIsKept(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	a.status.Store(http.StatusBadGateway)
	b.status.Store(http.StatusBadGateway)
	urls["products"] = []string{a.URL, b.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) {
		c.EjectAfter, c.BreakerFailures, c.Retries = 1, 1000, -1
	})
	for range 10 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil)
	}
	a.status.Store(http.StatusOK)
	b.status.Store(http.StatusOK)
	for range 4 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
}

func TestWhenEveryInstanceFailedItsHealthChecksTheGatewayStillRoutes(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	a.ready.Store(http.StatusServiceUnavailable)
	b.ready.Store(http.StatusServiceUnavailable)
	urls["products"] = []string{a.URL, b.URL}
	e := start(t, urls)
	eventually.True(t, "both instances are marked down", func() bool {
		return instanceDown(t, e, a.URL) && instanceDown(t, e, b.URL)
	})
	for range 10 {
		e.Do(t, httpxtest.Anonymous, "GET", "/v1/products", nil).Want(t, http.StatusOK)
	}
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Errorf("requests went to %d and %d of the instances, want both used", a.hits.Load(), b.hits.Load())
	}
	if n := metricValue(t, e, "gateway_upstream_panic_routed_total", "upstream", "products"); n < 10 {
		t.Errorf("requests routed in panic counted %v, want 10", n)
	}
}

func TestAServicesOverloadedAnswerIsPassedOnWithItsRetryAfterAndTripsNothing(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	var hits atomic.Int32
	shedding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		hits.Add(1)
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"code":"overloaded"}`))
	}))
	t.Cleanup(shedding.Close)
	urls["orders"] = []string{shedding.URL}
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.EjectAfter, c.BreakerFailures = 1, 2 })
	for range 10 {
		r := e.Do(t, httpxtest.Anonymous, "POST", "/v1/orders", `{}`)
		r.WantProblem(t, http.StatusServiceUnavailable, "overloaded")
		if got := r.Header.Get("Retry-After"); got != "3" {
			t.Fatalf("Retry-After = %q, want the service's 3", got)
		}
	}
	if n := hits.Load(); n != 10 {
		t.Errorf("the service got %d of 10 requests: it was left out, or they were retried", n)
	}
	if got := metricValue(t, e, "gateway_upstream_breaker_state", "upstream", "orders"); got != 0 {
		t.Errorf("breaker state %v after 10 overloaded answers, want 0 (closed)", got)
	}
}

// instanceDown reports whether the gateway's health checks marked the
// instance at base down.
func instanceDown(t *testing.T, e env, base string) bool {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == "gateway_upstream_instance_up" && hasLabels(m, []string{"instance", base}) {
				return m.GetGauge().GetValue() == 0
			}
		}
	}
	return false
}

// holding is an instance that keeps every request (but its readiness
// checks) until release is closed.
type holding struct {
	url     string
	arrived chan struct{} // one value per request that reached it
	release chan struct{}
	hits    atomic.Int32
}

func newHolding(t *testing.T) *holding {
	t.Helper()
	h := &holding{arrived: make(chan struct{}, 64), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		h.hits.Add(1)
		h.arrived <- struct{}{}
		<-h.release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// hold sends n requests to path that the holding instance keeps, and
// returns once they have all reached it; wait waits for their answers.
func (h *holding) hold(t *testing.T, e env, n int, path string) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { e.Do(t, httpxtest.Anonymous, "GET", path, nil).Want(t, http.StatusOK) })
	}
	for range n {
		<-h.arrived
	}
	return wg.Wait
}

// Past MaxPending, a service's requests wait at the gateway, as a burst
// of checkouts would, and reach it one by one as its slots free: the
// service never has more than MaxPending from the gateway at once.
func TestPastMaxPendingARequestWaitsAtTheGatewayUntilTheServiceHasASlot(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	orders := newHolding(t)
	urls["orders"] = []string{orders.url}
	const maxPending = 3
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.MaxPending, c.MaxInFlight = maxPending, 8 })

	wait := queuePastTheBound(t, e, orders, maxPending)
	if n := orders.hits.Load(); n != maxPending {
		t.Errorf("the service got %d requests, want %d: the one past the bound must wait", n, maxPending)
	}
	// Other services are not held to orders' bound while the door has
	// slots left.
	e.Do(t, httpxtest.Anonymous, "GET", detail, nil).Want(t, http.StatusOK)

	close(orders.release)
	wait()
	if n := orders.hits.Load(); n != maxPending+1 {
		t.Errorf("the service got %d requests, want %d", n, maxPending+1)
	}
	if got := metricValue(t, e, "gateway_upstream_shed_total", "upstream", "orders"); got != 0 {
		t.Errorf("gateway_upstream_shed_total = %v, want 0: a burst is served", got)
	}
}

// A service's queue at the gateway that has stood for PendingStandingAfter
// is a service that cannot keep up, not a burst (ADR 39, ADR 63): a request
// joining it waits 100 ms at most, then gets 503 overloaded with
// Retry-After, and never reaches the service. One that joined before then
// waits for its slot as long as it takes, well past those 100 ms.
func TestPastMaxPendingOnlyARequestJoiningAStandingQueueGetsAnOverloadedAnswerSoon(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	orders := newHolding(t)
	urls["orders"] = []string{orders.url}
	const maxPending, standingAfter = 3, 300 * time.Millisecond
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) {
		c.MaxPending, c.MaxInFlight, c.PendingStandingAfter = maxPending, 8, standingAfter
	})

	wait := queuePastTheBound(t, e, orders, maxPending)
	// The rule is one of time: the queue must have stood for longer than
	// PendingStandingAfter before the next request joins it.
	time.Sleep(standingAfter + 100*time.Millisecond)
	start := time.Now()
	r := e.Do(t, httpxtest.Anonymous, "GET", "/v1/orders", nil)
	r.WantProblem(t, http.StatusServiceUnavailable, "overloaded")
	if r.Header.Get("Retry-After") == "" {
		t.Error("the overloaded answer has no Retry-After")
	}
	// Far below the 10 s a request joining a burst's queue may wait.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the overloaded answer took %v: it waited as for a burst", took)
	}

	// The first one queued has waited over 400 ms by now, and is served.
	close(orders.release)
	wait()
	if n := orders.hits.Load(); n != maxPending+1 {
		t.Errorf("the service got %d requests, want %d: the refused one must not reach it", n, maxPending+1)
	}
	if got := metricValue(t, e, "gateway_upstream_shed_total", "upstream", "orders"); got != 1 {
		t.Errorf("gateway_upstream_shed_total = %v, want 1", got)
	}
}

// queuePastTheBound has orders hold maxPending requests and sends one more,
// which must wait in orders' queue at the gateway and then be served; wait
// waits for all their answers.
func queuePastTheBound(t *testing.T, e env, orders *holding, maxPending int) (wait func()) {
	t.Helper()
	held := orders.hold(t, e, maxPending, "/v1/orders")
	var queued sync.WaitGroup
	queued.Go(func() { e.Do(t, httpxtest.Anonymous, "GET", "/v1/orders", nil).Want(t, http.StatusOK) })
	eventually.True(t, "the request past the bound waits in orders' queue at the gateway", func() bool {
		return metricValue(t, e, "gateway_upstream_queued", "upstream", "orders") == 1
	})
	return func() { held(); queued.Wait() }
}

// The door: past MaxInFlight requests at once, all services together,
// the next waits before the gateway does any work for it (past the
// queue, it is refused at once: the server's limiter, tested in its
// package), and is served once a slot frees up.
func TestPastMaxInFlightRequestsWaitAtTheGatewaysDoorUntilASlotFrees(t *testing.T) {
	t.Parallel()
	urls, _ := services(t)
	orders, users := newHolding(t), newHolding(t)
	urls["orders"], urls["users"] = []string{orders.url}, []string{users.url}
	const maxInFlight = 4
	e := start(t, urls, func(c *gateway.Config, _ *gateway.Deps) { c.MaxPending, c.MaxInFlight = 3, maxInFlight })

	waitOrders := orders.hold(t, e, 3, "/v1/orders")
	waitUsers := users.hold(t, e, 1, "/v1/users/me")
	// The door is full: these wait for a slot, as a burst would (to two
	// services, each within its own bound once they are let in).
	var queued sync.WaitGroup
	for _, path := range []string{detail, detail, "/v1/orders", "/v1/orders"} {
		queued.Go(func() { e.Do(t, httpxtest.Anonymous, "GET", path, nil).Want(t, http.StatusOK) })
	}
	eventually.True(t, "the requests past the door's slots wait in its queue", func() bool {
		return metricValue(t, e, "http_requests_queued", "service", "gateway") == maxInFlight
	})
	if got := orders.hits.Load() + users.hits.Load(); got != maxInFlight {
		t.Errorf("the held services got %d requests, want the %d let in", got, maxInFlight)
	}

	// Orders' held requests end before users' frees a slot, so that the
	// waiting ones to orders never find it at its own bound.
	close(orders.release)
	waitOrders()
	close(users.release)
	waitUsers()
	queued.Wait()
}
