package server

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// connBound holds a listener to at most max open connections, so that
// the memory clients can make the process hold is bounded too: each
// connection costs a goroutine, its stack and its buffers, whether it
// carries a request or waits idle for the next. The in-flight limit
// bounds the requests, not the connections; a client that keeps opening
// new ones (thousands of keep-alive browsers, a slow-loris attack) would
// otherwise grow the process without bound.
//
// At max the listener accepts no more: a new client waits in the kernel's
// backlog. So that idle HTTP/1 clients cannot hold the bound, each
// connection accepted at the bound closes the HTTP/1 connection that has
// waited longest for a next request, which frees one slot for the next in
// the backlog. So only as many connections close as wait, the least
// recently used first; closing every idle connection at once would send
// all their clients back to dial together (ADR 64). With no idle
// connection to close, a request that starts at the bound is answered with
// "Connection: close", which ends an HTTP/1 connection after the answer
// and sends an HTTP/2 one a graceful GOAWAY, and an HTTP/1 connection that
// goes idle there is closed. An HTTP/2 connection with no request at all
// keeps its slot until the idle timeout: Go's server offers no way to
// close it gracefully. The bound is a backstop set above what an overload
// of short requests needs (ADR 62).
type connBound struct {
	max  int
	open prometheus.Gauge

	mu    sync.Mutex
	n     atomic.Int64          // slots taken; changed under mu, read without it by every request
	idle  *idleConns            // HTTP/1 connections waiting for a next request
	freed map[net.Conn]struct{} // closed here, their slots given back, their StateClosed still to come
}

func newConnBound(max int, open prometheus.Gauge) *connBound {
	return &connBound{max: max, open: open, idle: newIdleConns(), freed: map[net.Conn]struct{}{}}
}

// listen limits ln to the bound; a bound of zero or less leaves it as is.
func (b *connBound) listen(ln net.Listener) net.Listener {
	if b.max <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, b.max)
}

// track is the server's ConnState hook: it counts the connections, keeps
// the idle HTTP/1 ones in the order they went idle, and at the bound
// closes one connection for each that arrives or goes idle there.
func (b *connBound) track(c net.Conn, state http.ConnState) {
	var closing net.Conn
	// Unbounded, the hook only counts: no idle set to keep. An HTTP/2
	// connection is idle between streams; closing it could cut a request
	// already on its way.
	untracked := b.max <= 0 || state == http.StateIdle && isHTTP2(c)
	b.mu.Lock()
	switch state {
	case http.StateNew:
		b.open.Inc()
		b.n.Add(1)
		if b.full() {
			closing = b.idle.oldest()
		}
	case http.StateIdle:
		_, closed := b.freed[c] // closed here, and answered before it noticed
		switch {
		case untracked || closed:
		case b.full():
			closing = c // answered at the bound, with no idle connection to make room
		default:
			b.idle.add(c)
		}
	case http.StateActive:
		b.idle.remove(c)
	case http.StateClosed, http.StateHijacked:
		b.open.Dec()
		if _, ok := b.freed[c]; ok {
			delete(b.freed, c)
		} else {
			b.n.Add(-1)
		}
		b.idle.remove(c)
	}
	if closing != nil {
		// Closing gives the listener its slot back at once, before the
		// server's goroutine for the connection notices: counted now, or
		// every event until then would find the bound reached and close
		// another connection for the same slot.
		b.n.Add(-1)
		b.freed[closing] = struct{}{}
	}
	b.mu.Unlock()
	if closing != nil {
		closeNow(closing)
	}
}

// closeNow closes c without a TLS close_notify: that is a write, and a
// client that has stopped reading could hold it for seconds, or for good,
// while the hook runs on the server's accept loop. The server's goroutine
// for c then fails its read and ends it: StateClosed follows.
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	_ = c.Close()
}

// full reports whether the listener is at its bound.
func (b *connBound) full() bool { return b.max > 0 && b.n.Load() >= int64(b.max) }

// closeAtBound makes the answer to a request that starts while the
// listener is at its bound close its connection, so that the backlog
// moves. At the bound no HTTP/1 connection is idle: an arrival there
// closes one, and one going idle there is closed.
func (b *connBound) closeAtBound(next http.Handler) http.Handler {
	if b.max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.full() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

func isHTTP2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

// connMetrics is the instrument of the bound.
func connMetrics(reg prometheus.Registerer) *prometheus.GaugeVec {
	return observability.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "http_server_connections",
		Help: "Client connections the service's listener holds open, busy or idle (bounded by MAX_CONNS).",
	}, []string{"service"}))
}

// idleConns is a set of idle connections that yields the one idle longest
// first. Its methods are called under connBound's mutex.
type idleConns struct {
	order *list.List // of net.Conn, the one idle longest at the front
	at    map[net.Conn]*list.Element
}

func newIdleConns() *idleConns {
	return &idleConns{order: list.New(), at: map[net.Conn]*list.Element{}}
}

func (s *idleConns) add(c net.Conn) {
	if _, ok := s.at[c]; !ok {
		s.at[c] = s.order.PushBack(c)
	}
}

func (s *idleConns) remove(c net.Conn) {
	if e, ok := s.at[c]; ok {
		s.order.Remove(e)
		delete(s.at, c)
	}
}

// oldest takes the connection idle longest out of the set; nil when empty.
func (s *idleConns) oldest() net.Conn {
	e := s.order.Front()
	if e == nil {
		return nil
	}
	c := e.Value.(net.Conn)
	s.remove(c)
	return c
}
