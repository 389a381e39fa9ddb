package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/platform/server/servertest"
)

// connLimits are limits that leave requests unbounded in effect and bound
// the connections to four.
func connLimits() server.Limits {
	return server.Limits{MaxInFlight: 100, MaxQueue: 100, QueueWait: 10 * time.Second, MaxConns: 4}
}

// ownConnection is a client that opens a connection of its own and keeps
// it alive between requests.
func ownConnection(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func connsNow(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return metricValue(t, reg, "http_server_connections", "service", "svc")
}

// get sends GET url on c and returns the response, with its body read,
// and whether it came on a connection an earlier request had used.
func get(t *testing.T, c *http.Client, url string) (res *http.Response, reused bool) {
	t.Helper()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	// A body read to its end lets the connection be kept alive.
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, reused
}

func TestAnAnswerGivenAtTheBoundClosesItsConnection(t *testing.T) {
	tests := []struct {
		name      string
		maxConns  int
		wantClose bool
	}{
		{"an answer on the one connection a listener of one holds closes it", 1, true},
		{"an answer below the bound keeps its connection alive", 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := connLimits()
			l.MaxConns = tc.maxConns
			base, _, reg := limited(t, l, newGated())
			c := ownConnection(t)
			if res, _ := get(t, c, base+"/healthz"); res.Close != tc.wantClose {
				t.Fatalf("Connection: close is %v, want %v", res.Close, tc.wantClose)
			}
			if _, reused := get(t, c, base+"/healthz"); reused == tc.wantClose {
				t.Errorf("the next request reused the connection: %v, want %v", reused, !tc.wantClose)
			}
			if !tc.wantClose {
				return
			}
			eventually.True(t, "the connection closed", func() bool { return connsNow(t, reg) == 0 })
		})
	}
}

func TestAConnectionReachingTheBoundClosesOneIdleConnection(t *testing.T) {
	g := newGated()
	base, _, reg := limited(t, connLimits(), g)
	idle := []*http.Client{ownConnection(t), ownConnection(t), ownConnection(t)}
	for _, c := range idle {
		get(t, c, base+"/healthz")
	}
	eventually.True(t, "three idle keep-alive connections open", func() bool { return connsNow(t, reg) == 3 })

	// The fourth connection reaches the bound: one idle connection closes,
	// to make room for the next, and the busy one stays. (A connection
	// whose answer the client has read may not be idle yet on the server's
	// side: it then closes when it goes idle, if the listener is still at
	// its bound.) Which one closes is
	// TestAListenerAtItsBoundClosesOneConnectionForEachThatArrivesOrGoesIdle's.
	busy := ownConnection(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan *http.Response, 1)
	wg.Go(func() {
		res, err := busy.Get(base + "/work")
		if err != nil {
			t.Errorf("GET /work: %v", err)
			close(done)
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		done <- res
	})
	g.waitEntered(t, 1)
	eventually.True(t, "an idle connection closed", func() bool { return connsNow(t, reg) == 3 })

	// Below the bound, connections are kept for a next request. (The busy
	// request may have started at the bound with no idle connection left,
	// and been answered with Connection: close; the request after it did
	// not.)
	g.release <- struct{}{}
	if res := <-done; res == nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the busy request got %v, want 200", res)
	}
	get(t, busy, base+"/healthz")
	if _, reused := get(t, busy, base+"/healthz"); !reused {
		t.Errorf("a connection below the bound was closed after its answer")
	}
	close(g.release)
}

func TestAListenerWithEveryConnectionBusyAcceptsTheNextWhenOneEnds(t *testing.T) {
	g := newGated()
	base, _, reg := limited(t, connLimits(), g)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var statuses []<-chan int
	for range 4 {
		statuses = append(statuses, background(ctx, &wg, base+"/work"))
	}
	g.waitEntered(t, 4)
	eventually.True(t, "four busy connections open", func() bool { return connsNow(t, reg) == 4 })

	// The fifth waits in the kernel's backlog, not in the process; it is
	// served once a connection closes: at the bound, the answer released
	// first closes its connection. Without the bound the process would
	// take the fifth as soon as its client connected, before the release,
	// and five would run at once.
	dialed := make(chan struct{})
	fifth := make(chan int, 1)
	wg.Go(func() {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			defer close(dialed)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/work", nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			fifth <- 0
			return
		}
		res.Body.Close()
		fifth <- res.StatusCode
	})
	<-dialed
	g.release <- struct{}{}
	g.waitEntered(t, 1)
	close(g.release)
	for i, status := range append(statuses, fifth) {
		if got := <-status; got != http.StatusOK {
			t.Errorf("request %d got %d, want 200", i+1, got)
		}
	}
	if most := g.most.Load(); most != 4 {
		t.Errorf("%d requests ran at once, want 4: the bound let a fifth connection in", most)
	}
}

func TestTheMetricsListenerIsNotBoundByTheConnectionLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := server.New(slog.New(slog.DiscardHandler), reg, 5*time.Second)
	srv.SetLimits(connLimits())
	addr, err := srv.AddMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, srv)
	for range 6 {
		// Each client's transport keeps its connection until the test ends.
		if res, _ := get(t, ownConnection(t), "http://"+addr.String()+"/healthz"); res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("/healthz on the metrics listener: %d, close %v; want 200 kept alive", res.StatusCode, res.Close)
		}
	}
	if n := metricValue(t, reg, "http_server_connections", "service", "metrics"); n != 6 {
		t.Errorf("the metrics listener holds %v connections, want the six clients'", n)
	}
}

func TestAnHTTP2ClientThatReachesTheBoundIsServed(t *testing.T) {
	certFile, keyFile, roots := servertest.SelfSigned(t)
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	if err := srv.SetTLS(server.TLS{CertFile: certFile, KeyFile: keyFile, Every: true}); err != nil {
		t.Fatal(err)
	}
	l := connLimits()
	l.MaxConns = 2
	srv.SetLimits(l)
	g := newGated()
	addr, err := srv.Add(server.Module{Name: "svc", Addr: "127.0.0.1:0", Routes: g.routes})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, srv)
	base := "https://" + addr.String()

	// An HTTP/1 request holds the first connection.
	http1 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	defer http1.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if res, err := http1.Get(base + "/work"); err == nil {
			res.Body.Close()
		}
	})
	g.waitEntered(t, 1)
	defer close(g.release)

	// The HTTP/2 connection is the second: the bound. Its server goes
	// idle between the preface and the first stream, and must not be
	// closed there.
	http2 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	defer http2.CloseIdleConnections()
	res, _ := get(t, http2, base+"/healthz")
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 2 {
		t.Errorf("GET /healthz over HTTP/2 at the bound: %d %s, want 200 HTTP/2.0", res.StatusCode, res.Proto)
	}
}

// runUntilCleanup runs srv until the test ends.
func runUntilCleanup(t *testing.T, srv *server.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
}
