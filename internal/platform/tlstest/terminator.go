package tlstest

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// handshakeTimeout bounds a client's TLS handshake with the terminator.
const handshakeTimeout = 10 * time.Second

// Terminator is a TLS listener in front of a plain TCP server: it ends TLS
// as the server's own TLS listener would (checking a client certificate if
// its configuration asks for one) and forwards the bytes both ways. A
// client that gets through it has spoken TLS, and the server behind it
// answered.
type Terminator struct {
	// Addr is the terminator's loopback address, host:port.
	Addr string

	ln      net.Listener
	backend string
	cfg     *tls.Config
	wg      sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	clients []string // common names of verified client certificates
	failed  []error  // handshakes that failed
	closed  bool
}

// Terminate starts a terminator on a free loopback port forwarding to
// backend with cfg (its Certificates and, for client certificates,
// ClientAuth and ClientCAs). It stops when the test ends.
func Terminate(tb testing.TB, backend string, cfg *tls.Config) *Terminator {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("tlstest: terminator: %v", err)
	}
	t := &Terminator{Addr: ln.Addr().String(), ln: ln, backend: backend, cfg: cfg, conns: map[net.Conn]struct{}{}}
	t.wg.Add(1)
	go t.accept()
	tb.Cleanup(t.close)
	return t
}

// Port is the terminator's port, for a URL naming the host another way.
func (t *Terminator) Port() string {
	_, port, _ := net.SplitHostPort(t.Addr)
	return port
}

// ClientNames are the common names of the client certificates verified so
// far, one per successful handshake ("" for one without a certificate).
func (t *Terminator) ClientNames() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.clients...)
}

// Handshakes is how many handshakes succeeded and how many failed so far.
func (t *Terminator) Handshakes() (ok, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients), len(t.failed)
}

func (t *Terminator) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return // closed
		}
		if !t.track(c) {
			_ = c.Close()
			return
		}
		t.wg.Add(1)
		go t.serve(c)
	}
}

// serve ends TLS on c and forwards it to the backend until either side
// closes.
func (t *Terminator) serve(raw net.Conn) {
	defer t.wg.Done()
	defer t.untrack(raw)
	conn := tls.Server(raw, t.cfg)
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := conn.Handshake(); err != nil {
		t.record("", err)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	name := ""
	if peers := conn.ConnectionState().PeerCertificates; len(peers) > 0 {
		name = peers[0].Subject.CommonName
	}
	t.record(name, nil)
	back, err := net.Dial("tcp", t.backend)
	if err != nil {
		return
	}
	if !t.track(back) {
		_ = back.Close()
		return
	}
	defer t.untrack(back)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(back, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, back); done <- struct{}{} }()
	<-done // one side ended: end both, which ends the other copy
	_ = conn.Close()
	_ = back.Close()
	<-done
}

func (t *Terminator) record(name string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed = append(t.failed, err)
		return
	}
	t.clients = append(t.clients, name)
}

// track registers a connection for close; false once the terminator is
// closing.
func (t *Terminator) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Terminator) untrack(c net.Conn) {
	_ = c.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
}

// close stops accepting, cuts every connection and waits for the
// goroutines to end.
func (t *Terminator) close() {
	t.mu.Lock()
	t.closed = true
	_ = t.ln.Close()
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}
