package server

import (
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
// backlog. So that idle HTTP/1 clients cannot hold the bound, reaching it
// closes the connections that wait idle for a next request, and every
// request that starts while the listener is at the bound is answered with
// "Connection: close", which ends an HTTP/1 connection after the answer
// and sends an HTTP/2 one a graceful GOAWAY. An HTTP/2 connection with no
// request at all keeps its slot until the idle timeout: Go's server offers
// no way to close it gracefully. The bound is a backstop set above what an
// overload of short requests needs: where it engaged at three times the
// sustainable rate, clients waited seconds in the backlog instead of
// getting their 503 at once (ADR 62).
type connBound struct {
	max  int
	open prometheus.Gauge

	mu   sync.Mutex
	n    atomic.Int64          // open connections; changed under mu, read without it by every request
	idle map[net.Conn]struct{} // HTTP/1 connections waiting for a next request
}

func newConnBound(max int, open prometheus.Gauge) *connBound {
	return &connBound{max: max, open: open, idle: map[net.Conn]struct{}{}}
}

// listen limits ln to the bound; a bound of zero or less leaves it as is.
func (b *connBound) listen(ln net.Listener) net.Listener {
	if b.max <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, b.max)
}

// track is the server's ConnState hook: it counts the connections, keeps
// the set of idle HTTP/1 ones, and closes them when the bound is reached.
func (b *connBound) track(c net.Conn, state http.ConnState) {
	var closing []net.Conn
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
			for idle := range b.idle {
				closing = append(closing, idle)
			}
			clear(b.idle)
		}
	case http.StateIdle:
		if untracked {
			break
		}
		if b.full() {
			closing = append(closing, c) // an answer sent as the bound was reached
		} else {
			b.idle[c] = struct{}{}
		}
	case http.StateActive:
		delete(b.idle, c)
	case http.StateClosed, http.StateHijacked:
		b.open.Dec()
		b.n.Add(-1)
		delete(b.idle, c)
	}
	b.mu.Unlock()
	for _, c := range closing {
		closeNow(c)
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

// closeAtBound makes the answer to every request that starts while the
// listener is at its bound close its connection, so that the backlog
// moves.
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
