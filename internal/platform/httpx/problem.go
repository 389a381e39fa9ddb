package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// statusOf is the one table that turns error kinds into HTTP statuses.
var statusOf = map[errs.Kind]int{
	errs.Invalid:              http.StatusBadRequest,
	errs.Unauthenticated:      http.StatusUnauthorized,
	errs.Forbidden:            http.StatusForbidden,
	errs.NotFound:             http.StatusNotFound,
	errs.Conflict:             http.StatusConflict,
	errs.PreconditionFailed:   http.StatusPreconditionFailed,
	errs.PreconditionRequired: http.StatusPreconditionRequired,
	errs.TooLarge:             http.StatusRequestEntityTooLarge,
	errs.Unsupported:          http.StatusUnsupportedMediaType,
	errs.Unprocessable:        http.StatusUnprocessableEntity,
	errs.TooManyRequests:      http.StatusTooManyRequests,
	errs.Unavailable:          http.StatusServiceUnavailable,
}

// Problem is an RFC 9457 problem details document, with our stable code and
// per-field reasons as extension members.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	Code      string            `json:"code"`
	Errors    map[string]string `json:"errors,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// errDependency answers a request whose work failed because a server it
// needs (a database, a cache, a broker, a provider) could not be reached or
// did not answer in time. The fault is ours but passing: the client is told
// to retry, with the same Idempotency-Key where the operation takes one,
// rather than given a 500 that says nothing will change. The fault suite
// (make chaos) found these as 500s under reset and stalled connections.
var errDependency = &errs.Error{Kind: errs.Unavailable, Code: "dependency_unavailable",
	Message: "a server this request needs is unreachable; try again", RetryAfter: time.Second}

// Error answers with the problem that err describes. Errors that are not an
// *errs.Error are ours: they are logged in full and the client sees only a
// generic 500, never their text; those that come from a dependency that
// could not be reached are a 503 with Retry-After (see unreachable).
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := errs.As(err)
	status := statusOf[kindOf(e, ok)]
	switch {
	case (!ok || e.Kind == errs.Internal) && unreachable(r, err):
		log.WarnContext(r.Context(), "request failed: a dependency is unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
		e, status = errDependency, http.StatusServiceUnavailable
	case !ok || status == 0:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e, status = errs.New(errs.Internal, "internal", "an unexpected error occurred"), http.StatusInternalServerError
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	WriteProblem(w, r, status, e)
}

// unreachable says whether err comes from a connection that failed or a
// dependency that did not answer in time, while the request itself was
// still wanted, or from a request whose caller left: a network error, a reset, refused or cut connection, a
// deadline of our own that passed, a driver error that says the
// statement never ran (pgconn's SafeToRetry), PostgreSQL saying that it
// is going down or coming up (see serverRestarting), such a loss that
// reached us only as text (connectionLostIn), or MongoDB's driver saying
// the same of its server (mongoUnavailable).
func unreachable(r *http.Request, err error) bool {
	var (
		netErr net.Error
		retry  interface{ SafeToRetry() bool }
		pgErr  interface{ SQLState() string }
		// MongoDB's driver errors, by their methods, so that the HTTP
		// layer need not import the driver.
		mongoErr mongoServerError
	)
	switch {
	case r.Context().Err() != nil:
		// The caller left or the request's time ran out while it waited
		// (under overload, the gateway gives up on it): not a fault of
		// this service's own. A caller still there may retry, and such
		// answers must not count as the 500s an alert pages someone for.
		return true
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &pgErr) && serverRestarting(pgErr.SQLState()):
		return true
	case serverRestarting(sqlStateInText(err)), connectionLostIn.MatchString(err.Error()):
		return true
	case errors.As(err, &mongoErr) && mongoUnavailable(mongoErr):
		return true
	case errors.As(err, &retry):
		return retry.SafeToRetry()
	}
	return false
}

// serverRestarting says whether a PostgreSQL SQLSTATE is one a server
// sends while it shuts down or starts (a restart, a crash and its
// recovery, a failover): the session ended by the operator or a crash
// (57P01, 57P02), connections refused until it is ready (57P03), or a
// connection exception (class 08). The statement in flight did not
// commit, so the client may retry; the fault suite's real restart found
// these as 500s.
//
// Too many connections (53300) is the same to a client: the server is
// there but takes no more sessions for now, so the request waits for a
// retry, not for an operator.
func serverRestarting(state string) bool {
	switch state {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(state, "08")
}

// mongoServerError is what MongoDB's driver errors (CommandError,
// WriteException, BulkWriteException) say of themselves.
type mongoServerError interface {
	HasErrorLabel(label string) bool
	HasErrorCode(code int) bool
}

// mongoUnavailableCodes are MongoDB's error codes for a server that could
// not be reached or is stepping down, shutting down or electing a primary
// (the codes its retryable-writes rules retry on), and for an operation
// that ran out of its time limit (50, MaxTimeMSExpired). The driver retries
// such an operation once; when the retry fails too, the client may retry
// later, as with PostgreSQL's serverRestarting.
var mongoUnavailableCodes = []int{6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}

// mongoUnavailable says whether a MongoDB driver error comes from a server
// that was unreachable or not ready, rather than from the operation itself:
// a network error (the driver labels it), or one of mongoUnavailableCodes.
func mongoUnavailable(e mongoServerError) bool {
	return e.HasErrorLabel("NetworkError") || slices.ContainsFunc(mongoUnavailableCodes, e.HasErrorCode)
}

// sqlStateIn matches PostgreSQL's error code where pgconn writes it in an
// error's text: "FATAL: terminating connection due to administrator
// command (SQLSTATE 57P01)".
var sqlStateIn = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)

// sqlStateInText is the SQLSTATE of a PostgreSQL error that reached us only
// as text, or "". The embedded FerretDB, between the catalog and
// PostgreSQL, answers a query PostgreSQL failed with a MongoDB
// InternalError whose message is pgconn's; the fault suite's restart of
// PostgreSQL found a product read answered 500 that way.
func sqlStateInText(err error) string {
	if m := sqlStateIn.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// connectionLostIn matches, at the end of an error's text, what Go's I/O
// and pgconn say of a connection that could not be made or broke
// mid-statement, where only the text reached us: the embedded FerretDB
// answers a query it could not run on PostgreSQL with a MongoDB
// InternalError ending in pgconn's text. The fault suite's restart and
// crash of PostgreSQL found such answers as 500s: the session cut
// mid-query ("unexpected EOF", "conn closed"), and a new connection
// refused while the server was down ("failed to connect to ...: dial
// error: ...: connection refused"). At the end only: the same words inside
// an error's text may be a product's title.
var connectionLostIn = regexp.MustCompile(`(unexpected EOF|connection refused|connection reset by peer|broken pipe|conn closed)$`)

func kindOf(e *errs.Error, ok bool) errs.Kind {
	if !ok {
		return errs.Internal
	}
	return e.Kind
}

// WriteProblem writes e as problem+json with the given status. Every
// problem goes through here, so here its code is recorded for the access
// log and the router's http_problems_total.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, e *errs.Error) {
	observability.SetProblemCode(r.Context(), e.Code)
	p := Problem{
		Type:      "/problems/" + strings.ReplaceAll(e.Code, "_", "-"),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    e.Message,
		Instance:  r.URL.EscapedPath(),
		Code:      e.Code,
		Errors:    e.Fields,
		RequestID: w.Header().Get(RequestIDHeader),
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
