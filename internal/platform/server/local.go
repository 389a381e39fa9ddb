package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// ErrClosed is returned by a Local transport for a module that has begun
// to shut down: like a refused connection, the request never reached it,
// so it may be sent to another instance.
var ErrClosed = errors.New("server: module is shutting down")

// errHandlerAborted stands for a handler that panicked: over a socket the
// server would drop the connection.
var errHandlerAborted = errors.New("server: handler aborted the response")

// LocalTransport serves requests addressed to a listener of its server by
// calling that module's handler directly, and sends any other request on
// through the next transport. See Server.Local.
type LocalTransport struct {
	s    *Server
	next http.RoundTripper
}

// Local returns a transport that short-cuts requests for this server's own
// listeners: in one process the gateway reaches the services through the
// same handler, middleware and answers as over loopback, without paying for
// a second HTTP hop (two HTTP encodings, two connections' syscalls). The
// module counts such requests as in flight: it drains them before it
// closes, and refuses new ones with ErrClosed once it shuts down. Requests
// for any other address go to next.
//
// A module's address matches its bound one exactly, or, for a listener on
// every interface, 127.0.0.1 or localhost with its port, and [::1] too when
// it listens on both families ("[::]").
func (s *Server) Local(next http.RoundTripper) *LocalTransport {
	return &LocalTransport{s: s, next: next}
}

// RoundTrip implements http.RoundTripper.
func (t *LocalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.Header == nil {
		closeBody(req)
		return nil, errors.New("server: a request needs a URL and a Header")
	}
	target, ok := t.s.local(req.URL.Host)
	if !ok || req.URL.Scheme != "http" {
		return t.next.RoundTrip(req)
	}
	run := target.run
	if !run.calledLocally.Load() {
		run.calledLocally.Store(true)
	}
	if !run.inFlight.enter() {
		closeBody(req)
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, ErrClosed)
	}
	caller := req.Context()
	ctx, cancel := handlerContext(caller)
	// The mark lets the module believe the client address a caller of
	// this process (the gateway) forwards, and no one else's.
	in := inbound(httpx.WithInProcessCaller(ctx), req, target.peer)
	pr, pw := io.Pipe()
	w := &localWriter{header: http.Header{}, head: make(chan struct{}), body: pw, method: req.Method, log: t.s.log}
	t.s.handlers.run(func() {
		defer run.inFlight.leave()
		defer cancel() // as the server does once the handler returns
		defer closeBody(req)
		defer w.finish()
		run.handler.ServeHTTP(w, in)
	})
	select {
	case <-w.head:
	case <-caller.Done():
	}
	// A caller that has gone has no use for an answer, even one that came
	// at the same moment: it could not read its body.
	if err := context.Cause(caller); err != nil {
		cancel()
		pr.CloseWithError(err)
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	if w.err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, w.err)
	}
	// Once the caller's context ends, reading the body fails, as it does
	// on a connection the transport closed.
	stop := context.AfterFunc(caller, func() { pr.CloseWithError(context.Cause(caller)) })
	return w.response(req, &localBody{r: pr, caller: caller, stop: stop, cancel: cancel}), nil
}

// response is the answer as a transport returns it, once its status and
// headers are written.
func (w *localWriter) response(req *http.Request, body io.ReadCloser) *http.Response {
	contentLength := int64(-1)
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		contentLength = n
	}
	return &http.Response{
		Status:     strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode: w.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        w.sent,
		Body:          body,
		ContentLength: contentLength,
		Request:       req,
	}
}

// handlerContext is the context a handler serving parent's request runs
// in: it ends when parent does, but carries none of parent's values or its
// deadline, so that a service sees what it would see over a socket.
func handlerContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := context.AfterFunc(parent, func() { cancel(context.Cause(parent)) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// localBody is an answer's body. Closed before its end, it cancels the
// handler, as a server does when its client goes away; once the caller's
// context has ended, reading it fails.
type localBody struct {
	r      *io.PipeReader
	caller context.Context
	stop   func() bool // stops closing r when the caller's context ends
	cancel context.CancelFunc
	ended  bool
}

func (b *localBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		// The handler may have ended because the caller left.
		if cause := context.Cause(b.caller); cause != nil {
			return n, cause
		}
		b.ended = true
	}
	return n, err
}

func (b *localBody) Close() error {
	b.stop()
	if !b.ended {
		b.cancel()
	}
	return b.r.Close()
}

// CloseIdleConnections closes the next transport's idle connections.
func (t *LocalTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// inbound is req as a server would hand it to a handler: a path-only URL,
// its own copy of the headers (handlers may change them), a body that is
// never nil, and the caller as the peer.
func inbound(ctx context.Context, req *http.Request, peer string) *http.Request {
	in := req.Clone(ctx)
	in.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	in.RequestURI = req.URL.RequestURI()
	in.Host = cmp.Or(req.Host, req.URL.Host)
	in.RemoteAddr = peer
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	in.TLS, in.Close = nil, false
	if in.Body == nil {
		in.Body = http.NoBody
	}
	switch {
	case req.ContentLength > 0:
		in.Header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	case in.Body != http.NoBody && req.ContentLength == 0:
		// A body of unknown length, which a transport would send chunked.
		in.ContentLength, in.TransferEncoding = -1, []string{"chunked"}
	}
	return in
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// localWriter hands a handler's answer to the transport: the status and
// headers once written, then the body through a pipe, so the handler
// streams at the pace its reader consumes.
type localWriter struct {
	header http.Header
	method string
	body   *io.PipeWriter
	head   chan struct{} // closed once status and sent (or err) are set
	log    *slog.Logger

	wrote    bool
	status   int
	sent     http.Header
	err      error
	declared int64 // the Content-Length sent, or -1
	written  int64
}

func (w *localWriter) Header() http.Header { return w.header }

// WriteHeader ignores informational statuses, which a handler may send
// before its answer, and panics on invalid ones, as net/http does.
func (w *localWriter) WriteHeader(status int) {
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", status))
	}
	if w.wrote || status < http.StatusOK {
		return
	}
	w.wrote, w.status, w.sent = true, status, w.header.Clone()
	w.declared = -1
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		w.declared = n
	}
	close(w.head)
}

func (w *localWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		// As net/http does for a handler that did not say.
		if _, typed := w.header["Content-Type"]; !typed && len(p) > 0 {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	var tooLong error
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		p, tooLong = p[:w.declared-w.written], http.ErrContentLength
	}
	if w.method == http.MethodHead {
		return len(p), tooLong
	}
	n, err := w.body.Write(p)
	w.written += int64(n)
	if err != nil {
		return n, err
	}
	return n, tooLong
}

// Flush sends the status and headers; the body is never buffered.
func (w *localWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
}

// finish ends the answer once the handler returned. A handler that
// panicked past the module's own recovery, or wrote less than the length
// it declared, ends it with an error, as a dropped connection would.
func (w *localWriter) finish() {
	if p := recover(); p != nil {
		if p != http.ErrAbortHandler {
			w.log.Error("panic serving an in-process request", "panic", p, "stack", string(debug.Stack()))
		}
		if !w.wrote {
			w.wrote, w.err = true, errHandlerAborted
			close(w.head)
		}
		w.body.CloseWithError(errHandlerAborted)
		return
	}
	w.Flush()
	if w.declared > w.written && w.method != http.MethodHead && bodyAllowed(w.status) {
		w.body.CloseWithError(io.ErrUnexpectedEOF)
		return
	}
	_ = w.body.Close()
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// inFlight counts the requests a module serves in-process, so that it can
// drain them as its listener drains its connections.
type inFlight struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (f *inFlight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	return true
}

func (f *inFlight) leave() { f.wg.Done() }

// drain refuses new requests and waits for those in flight, or until ctx
// ends.
func (f *inFlight) drain(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done: // none were running: ctx had ended before the call
		return nil
	default:
		return fmt.Errorf("in-process requests still running: %w", ctx.Err())
	}
}

// workers run in-process handlers on goroutines that outlive one request.
// A fresh goroutine per request would start with a small stack and grow
// it, copying, through the depth of the middleware and the handler every
// time (about a twentieth of the CPU of a request); a connection's
// goroutine in net/http likewise serves request after request.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only when a worker waits
}

// workerIdle is how long a worker waits for another request before it
// exits, so that a burst leaves no goroutines behind.
const workerIdle = 10 * time.Second

func (ws *workers) run(job func()) {
	select {
	case ws.jobs <- job:
	default:
		go ws.work(job)
	}
}

func (ws *workers) work(job func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		job()
		idle.Reset(workerIdle)
		select {
		case job = <-ws.jobs:
		case <-idle.C:
			return
		}
	}
}

// localTarget is a module reachable in-process at one address.
type localTarget struct {
	run  *running
	peer string // the RemoteAddr its handler sees
}

// localAddrs are the addresses a listener on addr answers in-process.
func localAddrs(addr net.Addr) map[string]string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return nil
	}
	if !ap.Addr().IsUnspecified() {
		return map[string]string{ap.String(): netip.AddrPortFrom(ap.Addr(), 0).String()}
	}
	port := strconv.Itoa(int(ap.Port()))
	addrs := map[string]string{"127.0.0.1:" + port: "127.0.0.1:0", "localhost:" + port: "127.0.0.1:0"}
	if ap.Addr().Is6() { // "[::]" listens on both families, "0.0.0.0" on IPv4 only
		addrs["[::1]:"+port] = "[::1]:0"
	}
	return addrs
}

func (s *Server) local(host string) (localTarget, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.locals[host]
	return t, ok
}
