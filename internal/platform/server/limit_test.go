package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// gated is a module whose /work requests wait until the test releases them,
// counting how many run at once.
type gated struct {
	release chan struct{}
	entered chan struct{} // receives once per request that starts
	running atomic.Int32
	most    atomic.Int32
	// maxInFlight is the module's own bound (server.Module.MaxInFlight).
	maxInFlight int
}

func newGated() *gated {
	return &gated{release: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (g *gated) routes(rt *httpx.Router) {
	rt.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		n := g.running.Add(1)
		defer g.running.Add(-1)
		for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		}
		g.entered <- struct{}{}
		<-g.release
		w.WriteHeader(http.StatusOK)
	})
}

// limited runs a gated module under limits and returns its base URL, the
// server and its registry.
func limited(t *testing.T, l server.Limits, g *gated) (string, *server.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv := server.New(slog.New(slog.DiscardHandler), reg, 5*time.Second)
	srv.SetLimits(l)
	addr, err := srv.Add(server.Module{Name: "svc", Addr: "127.0.0.1:0", Routes: g.routes, MaxInFlight: g.maxInFlight})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + addr.String(), srv, reg
}

// waitEntered waits until n more requests have started in the handler.
func (g *gated) waitEntered(t *testing.T, n int) {
	t.Helper()
	for range n {
		eventually.Receive(t, "a request to start in the handler", g.entered)
	}
}

// background sends GET url with ctx and delivers its status (0 on error).
func background(ctx context.Context, wg *sync.WaitGroup, url string) <-chan int {
	status := make(chan int, 1)
	wg.Go(func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		res.Body.Close()
		status <- res.StatusCode
	})
	return status
}

// metricValue is the value of the series of name whose labels include
// every given pair, or 0 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if match {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func queuedNow(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return metricValue(t, reg, "http_requests_queued", "service", "svc")
}

func wantOverloaded(t *testing.T, res response) {
	t.Helper()
	if res.status != http.StatusServiceUnavailable || problemCode(t, res) != "overloaded" {
		t.Fatalf("answer = %d %s, want 503 overloaded", res.status, res.body)
	}
	if res.header.Get("Retry-After") == "" {
		t.Error("a shed request's 503 has no Retry-After")
	}
}

func TestNoMoreThanMaxInFlightRequestsRunAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		server, module int // MaxInFlight of the server's Limits and of the module
		want           int
	}{
		{"the server's bound", 3, 0, 3},
		{"the module's own bound, below the server's", 8, 3, 3},
		{"the module's own bound, above the server's", 1, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGated()
			g.maxInFlight = tt.module
			base, _, reg := limited(t, server.Limits{MaxInFlight: tt.server, MaxQueue: 10, QueueWait: time.Minute}, g)
			var wg sync.WaitGroup
			var statuses []<-chan int
			for range tt.want + 5 {
				statuses = append(statuses, background(context.Background(), &wg, base+"/work"))
			}
			g.waitEntered(t, tt.want)
			eventually.True(t, "five requests wait in the queue", func() bool { return queuedNow(t, reg) == 5 })
			close(g.release)
			for _, s := range statuses {
				if got := <-s; got != http.StatusOK {
					t.Errorf("a queued request got %d, want 200 once a slot freed", got)
				}
			}
			wg.Wait()
			if most := g.most.Load(); most != int32(tt.want) {
				t.Errorf("%d requests ran at once, want at most (and here exactly) %d", most, tt.want)
			}
		})
	}
}

func TestPastTheQueueRequestsAreShedAtOnceWithRetryAfter(t *testing.T) {
	t.Parallel()
	g := newGated()
	base, _, reg := limited(t, server.Limits{MaxInFlight: 1, MaxQueue: 1, QueueWait: time.Minute}, g)
	var wg sync.WaitGroup
	first := background(context.Background(), &wg, base+"/work")
	g.waitEntered(t, 1)
	second := background(context.Background(), &wg, base+"/work")
	eventually.True(t, "the second request waits in the queue", func() bool { return queuedNow(t, reg) == 1 })

	wantOverloaded(t, fetch(t, http.MethodGet, base+"/work"))
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if res := fetch(t, http.MethodGet, base+path); res.status != http.StatusOK {
			t.Errorf("%s while the module is full = %d, want 200: it is not limited", path, res.status)
		}
	}
	if n := metricValue(t, reg, "http_requests_shed_total", "reason", "queue_full"); n != 1 {
		t.Errorf("shed requests counted %v, want 1", n)
	}
	close(g.release)
	if a, b := <-first, <-second; a != http.StatusOK || b != http.StatusOK {
		t.Errorf("the running and the queued request got %d and %d, want 200 and 200", a, b)
	}
	wg.Wait()
}

func TestARequestThatWaitedTooLongIsShed(t *testing.T) {
	t.Parallel()
	g := newGated()
	base, _, reg := limited(t, server.Limits{MaxInFlight: 1, MaxQueue: 1, QueueWait: 50 * time.Millisecond}, g)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(g.release)
	background(context.Background(), &wg, base+"/work")
	g.waitEntered(t, 1)
	wantOverloaded(t, fetch(t, http.MethodGet, base+"/work"))
	if n := metricValue(t, reg, "http_requests_shed_total", "reason", "queue_timeout"); n != 1 {
		t.Errorf("requests shed after waiting counted %v, want 1", n)
	}
}

// standingAfter is when the queue of oneSlotStandingAfter stands.
const standingAfter = 50 * time.Millisecond

// oneSlotStandingAfter serves a gated module one request at a time, with a
// queue that stands after standingAfter, a short wait of 10 ms and a full
// wait of a minute.
func oneSlotStandingAfter(t *testing.T) (*gated, string, *prometheus.Registry) {
	t.Helper()
	g := newGated()
	base, _, reg := limited(t, server.Limits{MaxInFlight: 1, MaxQueue: 10, QueueWait: time.Minute,
		StandingAfter: standingAfter, StandingWait: 10 * time.Millisecond}, g)
	return g, base, reg
}

func TestARequestJoiningAStandingQueueWaitsOnlyTheShortWait(t *testing.T) {
	t.Parallel()
	g, base, reg := oneSlotStandingAfter(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	first := background(context.Background(), &wg, base+"/work")
	g.waitEntered(t, 1)
	burst := background(context.Background(), &wg, base+"/work") // the queue forms: the full wait
	eventually.True(t, "the second request waits in the queue", func() bool { return queuedNow(t, reg) == 1 })

	time.Sleep(2 * standingAfter) // the queue stands: time itself is the condition
	start := time.Now()
	wantOverloaded(t, fetch(t, http.MethodGet, base+"/work")) // fetch gives up after 10 s, far below QueueWait
	if n := metricValue(t, reg, "http_requests_shed_total", "reason", "queue_timeout"); n != 1 {
		t.Errorf("requests shed after waiting counted %v, want 1", n)
	}
	t.Logf("shed after %v in a standing queue", time.Since(start))

	close(g.release)
	if a, b := <-first, <-burst; a != http.StatusOK || b != http.StatusOK {
		t.Errorf("the running request and the one that formed the queue got %d and %d, want 200 and 200", a, b)
	}
}

// A queue stands only while requests wait in it: every slot held for
// long with none waiting is not overload, and the first to wait gets the
// full wait.
func TestTheFirstRequestToWaitAfterSlotsWereLongHeldGetsTheFullWait(t *testing.T) {
	t.Parallel()
	g, base, reg := oneSlotStandingAfter(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	first := background(context.Background(), &wg, base+"/work")
	g.waitEntered(t, 1)
	time.Sleep(2 * standingAfter) // the slot held, the queue empty: time itself is the condition
	second := background(context.Background(), &wg, base+"/work")
	eventually.True(t, "the second request waits in the queue", func() bool { return queuedNow(t, reg) == 1 })
	time.Sleep(10 * standingAfter) // far past the short wait
	close(g.release)
	if a, b := <-first, <-second; a != http.StatusOK || b != http.StatusOK {
		t.Errorf("the running request and the first to wait got %d and %d, want 200 and 200", a, b)
	}
}

func TestAClientThatLeavesTheQueueFreesItsPlace(t *testing.T) {
	t.Parallel()
	g := newGated()
	base, _, reg := limited(t, server.Limits{MaxInFlight: 1, MaxQueue: 1, QueueWait: time.Minute}, g)
	var wg sync.WaitGroup
	first := background(context.Background(), &wg, base+"/work")
	g.waitEntered(t, 1)
	ctx, leave := context.WithCancel(context.Background())
	background(ctx, &wg, base+"/work")
	eventually.True(t, "the second request waits in the queue", func() bool { return queuedNow(t, reg) == 1 })
	leave()
	eventually.True(t, "the client that left frees its place", func() bool { return queuedNow(t, reg) == 0 })

	third := background(context.Background(), &wg, base+"/work")
	eventually.True(t, "a third request takes the freed place", func() bool { return queuedNow(t, reg) == 1 })
	close(g.release)
	if a, c := <-first, <-third; a != http.StatusOK || c != http.StatusOK {
		t.Errorf("the running and the newly queued request got %d and %d, want 200 and 200", a, c)
	}
	wg.Wait()
	if g.most.Load() != 1 {
		t.Errorf("%d requests ran at once, want 1", g.most.Load())
	}
}

func TestRequestsServedInProcessAreLimitedToo(t *testing.T) {
	t.Parallel()
	g := newGated()
	base, srv, _ := limited(t, server.Limits{MaxInFlight: 1, MaxQueue: 0, QueueWait: time.Minute}, g)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(g.release)
	background(context.Background(), &wg, base+"/work")
	g.waitEntered(t, 1)
	req, err := http.NewRequest(http.MethodGet, base+"/work", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Local(http.DefaultTransport).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	wantOverloaded(t, response{status: res.StatusCode, header: res.Header, body: string(body)})
}

func TestLimitsAreReadFromTheEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    server.Limits
		wantErr string
	}{
		{name: "nothing set gives the defaults", want: server.DefaultLimits()},
		{
			name: "each variable sets its bound",
			env:  map[string]string{"MAX_IN_FLIGHT": "8", "MAX_QUEUE": "0", "MAX_QUEUE_WAIT": "2s", "MAX_CONNS": "100"},
			want: server.Limits{MaxInFlight: 8, MaxQueue: 0, QueueWait: 2 * time.Second,
				StandingAfter: server.DefaultLimits().StandingAfter, StandingWait: server.DefaultLimits().StandingWait, MaxConns: 100},
		},
		{
			name: "no bound on connections is allowed",
			env:  map[string]string{"MAX_CONNS": "0"},
			want: func() server.Limits { l := server.DefaultLimits(); l.MaxConns = 0; return l }(),
		},
		{name: "a negative bound on connections is refused", env: map[string]string{"MAX_CONNS": "-1"}, wantErr: "MAX_CONNS"},
		{name: "no request at a time is refused", env: map[string]string{"MAX_IN_FLIGHT": "0"}, wantErr: "MAX_IN_FLIGHT"},
		{name: "a negative queue is refused", env: map[string]string{"MAX_QUEUE": "-1"}, wantErr: "MAX_QUEUE"},
		{name: "a wait that is no duration is refused", env: map[string]string{"MAX_QUEUE_WAIT": "soon"}, wantErr: "MAX_QUEUE_WAIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.FromLookup(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			got := server.LoadLimits(e)
			if err := e.Err(); tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("LoadLimits = %+v, want %+v", got, tt.want)
			}
		})
	}
}
