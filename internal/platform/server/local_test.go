package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/server"
)

// echoModule answers /echo with what its handler saw, and changes the
// request's headers, which must not reach the caller's request.
func echoModule() server.Module {
	return server.Module{Name: "echo", Addr: "127.0.0.1:0", Routes: func(rt *httpx.Router) {
		rt.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Header.Set("X-Changed", "by the handler")
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("X-Seen", strings.Join([]string{r.RequestURI, r.Host, r.RemoteAddr, r.Header.Get("X-In"),
				r.Header.Get("Content-Length")}, " "))
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(body)
		})
		rt.HandleFunc("GET /empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		rt.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		rt.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
		rt.HandleFunc("GET /short", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "12345")
		})
		rt.HandleFunc("POST /length", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, strconv.FormatInt(r.ContentLength, 10))
		})
		rt.HandleFunc("GET /values", func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprint(w, r.Context().Value(callerKey{}) != nil)
		})
	}}
}

// callerKey marks a value of the caller's context.
type callerKey struct{}

// streamModule answers /stream with a body that never ends, and reports on
// returned how its handler ended: when its writes failed or its context
// was cancelled.
func streamModule(returned chan<- error) server.Module {
	return server.Module{Name: "stream", Addr: "127.0.0.1:0", Routes: func(rt *httpx.Router) {
		rt.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 1024)
			for {
				if _, err := w.Write(chunk); err != nil {
					returned <- err
					return
				}
				if err := r.Context().Err(); err != nil {
					returned <- err
					return
				}
			}
		})
	}}
}

// addUnserved adds m to a server that is never Run: a request reaches
// its handler only in-process, as nothing accepts on the listener.
func addUnserved(t *testing.T, m server.Module) (*server.Server, string) {
	t.Helper()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), time.Second)
	addr, err := srv.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	return srv, addr.String()
}

func roundTrip(t *testing.T, rt http.RoundTripper, method, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return res, string(got)
}

func TestLocalServesAModuleInProcessAsItsListenerWould(t *testing.T) {
	t.Parallel()
	srv, addr := addUnserved(t, echoModule())
	local := srv.Local(http.DefaultTransport)
	header := http.Header{"X-In": {"hello"}}

	res, body := roundTrip(t, local, http.MethodPost, "http://"+addr+"/echo?q=1", "the body", header)

	if res.StatusCode != http.StatusCreated || body != "the body" {
		t.Errorf("answer = %d %q, want 201 %q", res.StatusCode, body, "the body")
	}
	if want := "/echo?q=1 " + addr + " 127.0.0.1:0 hello 8"; res.Header.Get("X-Seen") != want {
		t.Errorf("the handler saw %q, want %q", res.Header.Get("X-Seen"), want)
	}
	if res.Header.Get(httpx.RequestIDHeader) == "" || res.Header.Get("X-Content-Type-Options") == "" {
		t.Errorf("headers %v lack the module's middleware (request id, security headers)", res.Header)
	}
	if header.Get("X-Changed") != "" {
		t.Error("the handler's change to its request's headers reached the caller's request")
	}
}

func TestLocalAnswersWithoutABodyWhereHTTPHasNone(t *testing.T) {
	t.Parallel()
	srv, addr := addUnserved(t, echoModule())
	local := srv.Local(http.DefaultTransport)
	for _, tt := range []struct {
		name, method, path string
		status             int
	}{
		{"no content", http.MethodGet, "/empty", http.StatusNoContent},
		{"HEAD of a readiness check", http.MethodHead, "/healthz", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := roundTrip(t, local, tt.method, "http://"+addr+tt.path, "", nil)
			if res.StatusCode != tt.status || body != "" {
				t.Errorf("answer = %d %q, want %d and no body", res.StatusCode, body, tt.status)
			}
		})
	}
}

func TestLocalSendsOtherAddressesToTheNextTransport(t *testing.T) {
	t.Parallel()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "elsewhere")
	}))
	t.Cleanup(elsewhere.Close)
	srv, _ := addUnserved(t, echoModule())

	_, body := roundTrip(t, srv.Local(http.DefaultTransport), http.MethodGet, elsewhere.URL+"/", "", nil)

	if body != "elsewhere" {
		t.Errorf("body = %q, want the other server's answer", body)
	}
}

func TestLocalFailsARequestWhoseHandlerGivesNoAnswer(t *testing.T) {
	t.Parallel()
	srv, addr := addUnserved(t, echoModule())
	local := srv.Local(http.DefaultTransport)

	t.Run("the caller gives up", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/wait", nil)
		if _, err := local.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("RoundTrip = %v, want the deadline", err)
		}
	})
	t.Run("the handler aborts", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/abort", nil)
		if res, err := local.RoundTrip(req); err == nil {
			res.Body.Close()
			t.Errorf("RoundTrip = %d, want an error as from a dropped connection", res.StatusCode)
		}
	})
}

func TestLocalBehavesAsASocketWouldAtTheEdges(t *testing.T) {
	t.Parallel()
	srv, addr := addUnserved(t, echoModule())
	local := srv.Local(http.DefaultTransport)
	base := "http://" + addr

	t.Run("an answer without a body is never taken for a cancellation", func(t *testing.T) {
		for range 2000 {
			if status, err := roundTripStatus(context.Background(), local, base+"/empty"); err != nil || status != http.StatusNoContent {
				t.Fatalf("GET /empty = %d, %v; want 204", status, err)
			}
		}
	})
	t.Run("a body shorter than its Content-Length fails to read", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/short", nil)
		res, err := local.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if _, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading a truncated body = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("a body of unknown length shows as -1", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, base+"/length", io.MultiReader(strings.NewReader("abc")))
		_, body := roundTrip(t, local, http.MethodPost, base+"/length", "", nil)
		if body != "0" {
			t.Errorf("an empty body's length = %s, want 0", body)
		}
		res, err := local.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if got, _ := io.ReadAll(res.Body); string(got) != "-1" {
			t.Errorf("a body of unknown length = %s, want -1", got)
		}
	})
	t.Run("the caller's context values stay with the caller", func(t *testing.T) {
		ctx := context.WithValue(context.Background(), callerKey{}, "claims")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/values", nil)
		res, err := local.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if got, _ := io.ReadAll(res.Body); string(got) != "false" {
			t.Errorf("the handler saw the caller's context values: %s", got)
		}
	})
	t.Run("a request without headers is an error, not a panic", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/empty", nil)
		req.Header = nil
		if _, err := local.RoundTrip(req); err == nil {
			t.Error("RoundTrip of a request without a Header succeeded")
		}
	})
}

func TestLocalEndsTheHandlerWhenItsCallerGoesAway(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		leave func(cancel context.CancelFunc, body io.ReadCloser) error // returns what reading then gives
	}{
		{"the caller's context ends while it does not read", func(cancel context.CancelFunc, body io.ReadCloser) error {
			cancel()
			_, err := io.ReadAll(body)
			return err
		}},
		{"the caller closes the body before its end", func(_ context.CancelFunc, body io.ReadCloser) error {
			body.Close()
			_, err := body.Read(make([]byte, 1))
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			returned := make(chan error, 1)
			srv, addr := addUnserved(t, streamModule(returned))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stream", nil)
			res, err := srv.Local(http.DefaultTransport).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if err := tt.leave(cancel, res.Body); err == nil {
				t.Error("reading after the caller left succeeded, want an error")
			}
			eventually.Receive(t, "the handler to return after its caller left", returned)
		})
	}
}

func TestShutdownDrainsInProcessRequestsThenRefusesThem(t *testing.T) {
	t.Parallel()
	slow := newSlowModule()
	r := startServer(t, 5*time.Second, slow.module())
	local := r.srv.Local(http.DefaultTransport)
	base := r.addrs[0]

	result := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, base+"/slow", nil)
		res, err := local.RoundTrip(req)
		if err != nil {
			result <- err.Error()
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		result <- string(body)
	}()
	<-slow.started
	r.cancel()

	eventually.True(t, "in-process requests refused with ErrClosed once shutdown began", func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		res, err := local.RoundTrip(req)
		if err == nil {
			res.Body.Close()
		}
		return errors.Is(err, server.ErrClosed)
	})
	if slow.closed.Load() {
		t.Error("module closed while an in-process request was still in flight")
	}
	close(slow.release)
	if got := <-result; got != "done" {
		t.Errorf("in-process request in flight during shutdown = %q, want done", got)
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Run = %v, want nil after a clean shutdown", err)
	}
	if slow.closedEarly.Load() {
		t.Error("module closed before its in-process request finished")
	}
}

func TestModulesCalledInProcessDrainAfterTheirCallers(t *testing.T) {
	t.Parallel()
	srv := server.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), 5*time.Second)
	srv.SetDrainDelay(300 * time.Millisecond)
	local := srv.Local(http.DefaultTransport)
	service, err := srv.Add(server.Module{Name: "service", Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	serviceReady := "http://" + service.String() + "/readyz"
	// The gateway's request reaches the service only after shutdown began.
	started, release := make(chan struct{}), make(chan struct{})
	gateway, err := srv.Add(server.Module{Name: "gateway", Addr: "127.0.0.1:0", Public: true, Routes: func(rt *httpx.Router) {
		rt.HandleFunc("GET /through", func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			res, _ := roundTripStatus(r.Context(), local, serviceReady)
			w.WriteHeader(res)
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	if status, err := roundTripStatus(context.Background(), local, serviceReady); status != http.StatusOK {
		t.Fatalf("service /readyz in-process = %d, %v; want 200", status, err) // as the gateway's health checks ask
	}

	result := make(chan response, 1)
	go func() {
		res, err := tryFetch(http.MethodGet, "http://"+gateway.String()+"/through", nil)
		if err != nil {
			res.body = err.Error()
		}
		result <- res
	}()
	<-started
	cancel()
	eventually.True(t, "the gateway's /readyz answers 503 in its drain delay", func() bool {
		return fetch(t, http.MethodGet, "http://"+gateway.String()+"/readyz").status == http.StatusServiceUnavailable
	})
	if status, err := roundTripStatus(context.Background(), local, serviceReady); status != http.StatusOK {
		t.Errorf("service /readyz during its caller's drain delay = %d, %v; want 200, so the gateway keeps it", status, err)
	}
	// Past the delay the gateway drains (its listener closes); the service,
	// still called by the gateway's request in flight, must wait for it.
	eventually.True(t, "the gateway stops listening after its drain delay", func() bool {
		conn, err := net.Dial("tcp", gateway.String())
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	close(release)
	if res := <-result; res.status != http.StatusOK {
		t.Errorf("request through the gateway during shutdown = %d %q, want the service's 200", res.status, res.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func roundTripStatus(ctx context.Context, rt http.RoundTripper, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}
