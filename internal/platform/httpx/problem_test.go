package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
)

func TestErrorMapsEachKindToItsStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind errs.Kind
		want int
	}{
		{errs.Invalid, http.StatusBadRequest},
		{errs.Unauthenticated, http.StatusUnauthorized},
		{errs.Forbidden, http.StatusForbidden},
		{errs.NotFound, http.StatusNotFound},
		{errs.Conflict, http.StatusConflict},
		{errs.PreconditionFailed, http.StatusPreconditionFailed},
		{errs.TooLarge, http.StatusRequestEntityTooLarge},
		{errs.Unsupported, http.StatusUnsupportedMediaType},
		{errs.Unprocessable, http.StatusUnprocessableEntity},
		{errs.TooManyRequests, http.StatusTooManyRequests},
		{errs.Unavailable, http.StatusServiceUnavailable},
		{errs.Internal, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("kind %d answers %d", tt.kind, tt.want), func(t *testing.T) {
			t.Parallel()
			log, logs := newTestLogger(t)
			e := errs.New(tt.kind, "some_code", "something about %s", "it")
			w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/things/1", nil)
			httpx.Error(w, r, log, e)

			p := decodeProblem(t, w)
			if p.Status != tt.want || w.Code != tt.want {
				t.Errorf("status = %d (document %d), want %d", w.Code, p.Status, tt.want)
			}
			if tt.kind == errs.Internal {
				// An Internal errs.Error is still ours: generic to the client.
				if p.Code != "internal" || !strings.Contains(logs.String(), "some_code") {
					t.Errorf("internal kind: code %q, logs %q; want generic code and the error logged", p.Code, logs)
				}
				return
			}
			want := httpx.Problem{
				Type: "/problems/some-code", Title: http.StatusText(tt.want), Status: tt.want,
				Detail: "something about it", Instance: "/v1/things/1", Code: "some_code",
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("problem mismatch (-want +got):\n%s", diff)
			}
			if logs.String() != "" {
				t.Errorf("a client error was logged: %q", logs)
			}
		})
	}
}

func TestErrorFindsAWrappedErrsError(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	err := fmt.Errorf("load order 7: %w", errs.New(errs.NotFound, "order_not_found", "no such order"))
	w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/orders/7", nil)
	httpx.Error(w, r, log, err)
	if p := decodeProblem(t, w); p.Status != http.StatusNotFound || p.Code != "order_not_found" {
		t.Errorf("problem = %+v, want 404 order_not_found", p)
	}
}

func TestErrorCarriesValidationFields(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	fields := map[string]string{"email": "is not an email address", "name": "is required"}
	w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/users", nil)
	httpx.Error(w, r, log, errs.Validation(fields))
	p := decodeProblem(t, w)
	if diff := cmp.Diff(fields, p.Errors); diff != "" {
		t.Errorf("problem errors mismatch (-want +got):\n%s", diff)
	}
	if p.Type != "/problems/validation-failed" {
		t.Errorf("type = %q, want /problems/validation-failed", p.Type)
	}
}

func TestErrorHidesInternalErrorsAndLogsThem(t *testing.T) {
	t.Parallel()
	const secret = "password=hunter2 host=10.1.2.3"
	tests := []struct {
		name string
		err  error
	}{
		{name: "a plain error", err: errors.New("dial tcp: " + secret)},
		{name: "a wrapped plain error", err: fmt.Errorf("load user: %w", errors.New(secret))},
		{name: "an errs error of kind Internal", err: errs.New(errs.Internal, "db_down", "%s", secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := newTestLogger(t)
			w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/users/me", nil)
			httpx.Error(w, r, log, tt.err)

			if w.Code != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", w.Code)
			}
			if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "10.1.2.3") {
				t.Errorf("body %q leaks the internal error", w.Body)
			}
			p := decodeProblem(t, w)
			if p.Code != "internal" || p.Detail != "an unexpected error occurred" {
				t.Errorf("problem = %+v, want the generic internal problem", p)
			}
			if !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "/v1/users/me") {
				t.Errorf("logs = %q, want the full error and path", logs)
			}
		})
	}
}

// retryable is a driver error that says its statement never ran, as
// pgconn's connection errors do.
type retryable struct{ safe bool }

func (e retryable) Error() string     { return "failed to write query" }
func (e retryable) SafeToRetry() bool { return e.safe }

// sqlState is a database error with a SQLSTATE, as pgconn's PgError is.
type sqlState string

func (e sqlState) Error() string    { return "ERROR (SQLSTATE " + string(e) + ")" }
func (e sqlState) SQLState() string { return string(e) }

func TestAnUnreachableDependencyIsA503WithRetryAfterNotA500(t *testing.T) {
	t.Parallel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name       string
		err        error
		callerLeft bool
		status     int
	}{
		{name: "a connection reset by the database", err: fmt.Errorf("checkout: %w", reset), status: http.StatusServiceUnavailable},
		{name: "a connection refused", err: fmt.Errorf("dial: %w", syscall.ECONNREFUSED), status: http.StatusServiceUnavailable},
		{name: "a connection cut mid-answer", err: fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), status: http.StatusServiceUnavailable},
		{name: "a deadline of our own that passed", err: fmt.Errorf("query: %w", context.DeadlineExceeded), status: http.StatusServiceUnavailable},
		{name: "a driver error whose statement never ran", err: fmt.Errorf("query: %w", retryable{safe: true}), status: http.StatusServiceUnavailable},
		{name: "a driver error whose statement may have run", err: fmt.Errorf("query: %w", retryable{safe: false}), status: http.StatusInternalServerError},
		{name: "a session the restarting database ended", err: fmt.Errorf("commit: %w", sqlState("57P01")), status: http.StatusServiceUnavailable},
		{name: "a session the crashing database ended", err: fmt.Errorf("commit: %w", sqlState("57P02")), status: http.StatusServiceUnavailable},
		{name: "a database still starting up", err: fmt.Errorf("connect: %w", sqlState("57P03")), status: http.StatusServiceUnavailable},
		{name: "a database with every connection taken", err: fmt.Errorf("connect: %w", sqlState("53300")), status: http.StatusServiceUnavailable},
		{name: "a connection exception", err: fmt.Errorf("query: %w", sqlState("08006")), status: http.StatusServiceUnavailable},
		{name: "a database error of our own making", err: fmt.Errorf("insert: %w", sqlState("23505")), status: http.StatusInternalServerError},
		{name: "a restart FerretDB passed on as text", err: fmt.Errorf("find product: %w", errors.New("(InternalError) [msg_find.go:344 handler.handleMaxTimeMSError] "+
			"FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")), status: http.StatusServiceUnavailable},
		{name: "a connection a crash cut mid-query, FerretDB passed on as text", err: fmt.Errorf("find product: %w", errors.New("(InternalError) "+
			"[msg_find.go:344 handler.handleMaxTimeMSError] [collection.go:109 postgresql.(*collection).Query] unexpected EOF")), status: http.StatusServiceUnavailable},
		{name: "a word of a connection's loss inside another error's text", err: errors.New("decode the broken pipe fitting's title: invalid character"),
			status: http.StatusInternalServerError},
		{name: "a connection refused while PostgreSQL restarts, FerretDB passed on as text", err: fmt.Errorf("update product: %w", errors.New("(InternalError) "+
			"[msg_update.go:117 handler.(*Handler).updateDocument] [collection.go:109 postgresql.(*collection).Query] failed to connect to `user=postgres database=catalog`: "+
			"127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: connect: connection refused")), status: http.StatusServiceUnavailable},
		{name: "a connection reset while FerretDB logged in, passed on as text", err: fmt.Errorf("find product: %w", errors.New("(InternalError) "+
			"[collection.go:109 postgresql.(*collection).Query] failed to connect to `user=postgres database=catalog`: 127.0.0.1:5432 (127.0.0.1): "+
			"failed to receive message: read tcp 127.0.0.1:40364->127.0.0.1:5432: read: connection reset by peer")), status: http.StatusServiceUnavailable},
		{name: "an error of our own FerretDB passed on as text", err: fmt.Errorf("insert product: %w", errors.New("(InternalError) "+
			"ERROR: duplicate key value violates unique constraint (SQLSTATE 23505)")), status: http.StatusInternalServerError},
		{name: "a MongoDB server that could not be reached", err: fmt.Errorf("find product: %w", mongodrv.CommandError{
			Labels: []string{"NetworkError"}, Message: "connection(localhost:27017) incomplete read of message header: EOF"}), status: http.StatusServiceUnavailable},
		{name: "a MongoDB primary stepping down", err: fmt.Errorf("update product: %w", mongodrv.CommandError{Code: 189, Name: "PrimarySteppedDown"}),
			status: http.StatusServiceUnavailable},
		{name: "a MongoDB write refused while the server shuts down", err: fmt.Errorf("insert product: %w", mongodrv.WriteException{
			WriteConcernError: &mongodrv.WriteConcernError{Code: 91, Name: "ShutdownInProgress"}}), status: http.StatusServiceUnavailable},
		{name: "a MongoDB operation past its time limit", err: fmt.Errorf("list products: %w", mongodrv.CommandError{Code: 50, Name: "MaxTimeMSExpired"}),
			status: http.StatusServiceUnavailable},
		{name: "a MongoDB error of our own making", err: fmt.Errorf("insert product: %w", mongodrv.WriteException{
			WriteErrors: mongodrv.WriteErrors{{Code: 11000, Message: "E11000 duplicate key error"}}}), status: http.StatusInternalServerError},
		{name: "a bug", err: errors.New("nil map"), status: http.StatusInternalServerError},
		{name: "a query the caller's leaving canceled", err: fmt.Errorf("select cart: %w", context.Canceled), callerLeft: true, status: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, _ := newTestLogger(t)
			w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/orders", nil)
			if tt.callerLeft {
				ctx, cancel := context.WithCancel(r.Context())
				cancel()
				r = r.WithContext(ctx)
			}
			httpx.Error(w, r, log, tt.err)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusServiceUnavailable {
				if p := decodeProblem(t, w); p.Code != "dependency_unavailable" || w.Header().Get("Retry-After") != "1" {
					t.Errorf("problem %+v, Retry-After %q; want dependency_unavailable after 1 s", p, w.Header().Get("Retry-After"))
				}
			}
		})
	}
}

func TestErrorSetsRetryAfterInWholeSecondsRoundedUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  errs.Kind
		after time.Duration
		want  string
	}{
		{name: "no retry delay sends no header", kind: errs.TooManyRequests, want: ""},
		{name: "whole seconds are kept", kind: errs.TooManyRequests, after: 3 * time.Second, want: "3"},
		{name: "a fraction rounds up", kind: errs.TooManyRequests, after: 1500 * time.Millisecond, want: "2"},
		{name: "a nanosecond rounds up to a second", kind: errs.Unavailable, after: time.Nanosecond, want: "1"},
		{name: "minutes become seconds", kind: errs.Unavailable, after: 2 * time.Minute, want: "120"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, _ := newTestLogger(t)
			e := errs.New(tt.kind, "slow_down", "try later")
			e.RetryAfter = tt.after
			w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
			httpx.Error(w, r, log, e)
			if got := w.Header().Get("Retry-After"); got != tt.want {
				t.Errorf("Retry-After = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteProblemSetsProblemHeaders(t *testing.T) {
	t.Parallel()
	w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil)
	httpx.WriteProblem(w, r, http.StatusConflict, errs.New(errs.Conflict, "email_taken", "the email is taken"))
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if p := decodeProblem(t, w); p.RequestID != "" {
		t.Errorf("request_id = %q without the RequestID middleware, want none", p.RequestID)
	}
}

func TestErrorEchoesTheRequestID(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	h := httpx.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.Error(w, r, log, errs.New(errs.Forbidden, "not_yours", "not yours"))
	}))
	w, r := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/orders/9", nil)
	r.Header.Set(httpx.RequestIDHeader, "req-42")
	h.ServeHTTP(w, r)
	if p := decodeProblem(t, w); p.RequestID != "req-42" {
		t.Errorf("request_id = %q, want req-42", p.RequestID)
	}
	if got := w.Header().Get(httpx.RequestIDHeader); got != "req-42" {
		t.Errorf("%s = %q, want req-42", httpx.RequestIDHeader, got)
	}
}

// decodeProblem checks that w holds a problem document and returns it.
func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) httpx.Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p httpx.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %q: %v", w.Body, err)
	}
	return p
}

// newTestLogger returns a JSON logger and the buffer it writes to.
func newTestLogger(t *testing.T) (*slog.Logger, *logtest.Buffer) {
	t.Helper()
	buf := &logtest.Buffer{}
	return observability.NewLogger(buf, slog.LevelDebug), buf
}
