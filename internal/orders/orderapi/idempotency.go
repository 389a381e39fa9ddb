package orderapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// IdempotencyKeyHeader names the header a client sends to make a retried
// POST safe.
const IdempotencyKeyHeader = "Idempotency-Key"

const (
	// keyLease is how long a request holds its key before another may take
	// it over; longer than any request runs.
	keyLease = 2 * time.Minute
	// keyMargin is how long before its lease ends the holder's work is cut
	// off, room for its transaction to roll back.
	keyMargin = 15 * time.Second
	// keyWait is how long a retry waits for the first request's answer
	// before giving up with 409.
	keyWait = 15 * time.Second
)

var (
	errKeyReused  = errs.New(errs.Unprocessable, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
	errKeyBusy    = &errs.Error{Kind: errs.Conflict, Code: "idempotency_key_in_use", Message: "a request with this Idempotency-Key is still running; retry shortly", RetryAfter: time.Second}
	errKeyInvalid = errs.Validation(map[string]string{IdempotencyKeyHeader: "must be 1 to 255 visible ASCII characters"})
)

func validKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		// A blank key would be a retry-safe request that is not.
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent runs h at most once per Idempotency-Key of the caller: a
// retry with the same body gets the first answer (waiting for it while the
// first request runs), a retry with another body gets 422. Answers of our
// own failures (5xx) and answers that are not final (202) are not kept, so
// a retry runs again. Without the header, h simply runs.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, c auth.Claims, operation string,
	h func(w http.ResponseWriter, r *http.Request, key string)) {
	values, sent := r.Header[http.CanonicalHeaderKey(IdempotencyKeyHeader)]
	if !sent {
		h(w, r, "")
		return
	}
	key := values[0]
	if len(values) != 1 || !validKey(key) {
		a.respond.Fail(w, r, errKeyInvalid)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		a.respond.Fail(w, r, errs.New(errs.TooLarge, "body_too_large", "the body exceeds %d bytes", maxBody))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(append([]byte(r.Header.Get("Content-Type")+"\n"), body...))
	ctx := r.Context()
	deadline := time.Now().Add(keyWait)
	for {
		claim, err := a.keys.ClaimKey(ctx, c.UserID, key, operation, sum[:], keyLease)
		switch {
		case err != nil:
			a.respond.Fail(w, r, err)
			return
		case claim.Owned:
			a.runOnce(w, r, c, key, h)
			return
		case claim.Mismatch:
			a.respond.Fail(w, r, errKeyReused)
			return
		case claim.Status != 0:
			replay(w, claim.Status, claim.Body)
			return
		case claim.ResourceID != "":
			// The first request created the order but died before storing
			// its answer: answer with the order as it is now.
			o, err := a.svc.Order(ctx, c, claim.ResourceID)
			if err == nil {
				w.Header().Set("Location", "/v1/orders/"+o.ID)
				w.Header().Set("Idempotent-Replayed", "true")
			}
			a.respond.Reply(w, r, http.StatusCreated, o, err)
			return
		}
		if time.Now().After(deadline) {
			a.respond.Fail(w, r, errKeyBusy)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// runOnce runs h for the key's holder and keeps its answer.
func (a *API) runOnce(w http.ResponseWriter, r *http.Request, c auth.Claims, key string, h func(http.ResponseWriter, *http.Request, string)) {
	rec := &recorder{header: w.Header(), status: http.StatusOK}
	// The work must end before the lease does, or a retry could take the
	// key over while it still runs.
	work, cancel := context.WithTimeout(r.Context(), keyLease-keyMargin)
	defer cancel()
	h(rec, r.WithContext(work), key)
	// Store the answer even if the client has gone: its retry wants it.
	ctx := context.WithoutCancel(r.Context())
	// Neither our failures (5xx) nor answers that are not final (202: the
	// payment's outcome is pending) are kept: a retry runs again, and the
	// operation, idempotent in itself, then says how it stands.
	if rec.status >= 500 || rec.status == http.StatusAccepted {
		if err := a.keys.ReleaseKey(ctx, c.UserID, key); err != nil {
			a.log.WarnContext(ctx, "release idempotency key", "err", err)
		}
	} else if err := a.keys.CompleteKey(ctx, c.UserID, key, rec.status, rec.body.Bytes()); err != nil {
		a.log.WarnContext(ctx, "store idempotent answer", "err", err)
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func replay(w http.ResponseWriter, status int, body []byte) {
	ct := "application/json"
	if status >= 400 {
		ct = "application/problem+json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// recorder keeps a response so it can be stored before it is sent. It
// shares the real writer's header map.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
