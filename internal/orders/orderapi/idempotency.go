package orderapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// IdempotencyKeyHeader names the header a client sends to make a retried
// POST safe.
const IdempotencyKeyHeader = "Idempotency-Key"

const (
	// keyLease is how long a claim on a key lasts unless its holder renews
	// it: a key whose holder died is free again this long after its last
	// renewal, so a retry after a crash waits seconds, not minutes.
	keyLease = 6 * time.Second
	// keyRenew is how often the holder renews its lease while it works.
	keyRenew = 2 * time.Second
	// keyStall is how long a holder works on without a successful renewal
	// before it gives up: under load, renewals queue for connections like
	// the work does, and cutting the work early would fail it for nothing.
	// Running on past the lease is safe: a checkout's order is linked to
	// its key in the order's transaction, which fails if the key already
	// names an order, and a payment is idempotent in itself.
	keyStall = time.Minute
	// keyWait is how long a retry waits for the first request's answer
	// before giving up with 409; longer than a lease, so a retry of a
	// request whose holder died gets through in one call.
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

// keyedRequest is a request sent with an Idempotency-Key.
type keyedRequest struct {
	key  string
	body []byte   // read in full, to hash it and to run the request again
	hash [32]byte // of the body and its content type: what the key stands for
}

// readKey reads the Idempotency-Key of r and, with one, the whole body,
// which r then reads again from the start. It returns nil without the
// header.
func readKey(w http.ResponseWriter, r *http.Request) (*keyedRequest, error) {
	values, sent := r.Header[http.CanonicalHeaderKey(IdempotencyKeyHeader)]
	if !sent {
		return nil, nil
	}
	if len(values) != 1 || !validKey(values[0]) {
		return nil, errKeyInvalid
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, errs.New(errs.TooLarge, "body_too_large", "the body exceeds %d bytes", maxBody)
	}
	k := &keyedRequest{key: values[0], body: body,
		hash: sha256.Sum256(append([]byte(r.Header.Get("Content-Type")+"\n"), body...))}
	k.rewind(r)
	return k, nil
}

// rewind makes r's body readable again from the start.
func (k *keyedRequest) rewind(r *http.Request) { r.Body = io.NopCloser(bytes.NewReader(k.body)) }

// idempotent runs h at most once per Idempotency-Key of the caller: a
// retry with the same body gets the first answer (waiting for it while the
// first request runs), a retry with another body gets 422. Answers of our
// own failures (5xx), answers that are not final (202) and refusals of the
// request's form or fields (400) are not kept, so a retry runs again.
// Without the header, h simply runs.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, c auth.Claims, operation string,
	h func(w http.ResponseWriter, r *http.Request, key string)) {
	k, err := readKey(w, r)
	switch {
	case err != nil:
		a.respond.Fail(w, r, err)
	case k == nil:
		h(w, r, "")
	default:
		a.claimAndRun(w, r, c, operation, k, h)
	}
}

// claimAndRun claims k and runs h under it, or answers as the key says:
// the stored answer, 422 for another request, or 409 when the request
// holding it has not answered within keyWait.
func (a *API) claimAndRun(w http.ResponseWriter, r *http.Request, c auth.Claims, operation string, k *keyedRequest,
	h func(w http.ResponseWriter, r *http.Request, key string)) {
	ctx := r.Context()
	deadline := time.Now().Add(keyWait)
	holder := uuid.NewString()
	for {
		claimedAt := time.Now()
		claim, err := a.keys.ClaimKey(ctx, c.UserID, k.key, operation, k.hash[:], holder, keyLease)
		switch {
		case err != nil:
			a.respond.Fail(w, r, err)
			return
		case claim.Owned:
			a.runOnce(w, r, c, heldKey{key: k.key, holder: holder, claimedAt: claimedAt}, h)
			return
		case claim.Mismatch:
			a.respond.Fail(w, r, errKeyReused)
			return
		case claim.Status != 0:
			if claim.Status == http.StatusCreated && claim.ResourceID != "" {
				w.Header().Set("Location", orderLocation(claim.ResourceID))
			}
			replay(w, claim.Status, claim.Body)
			return
		case claim.ResourceID != "":
			// The first request created the order but died before storing
			// its answer: answer with the order as it is now.
			o, err := a.svc.Order(ctx, c, claim.ResourceID)
			if err == nil {
				w.Header().Set("Location", orderLocation(o.ID))
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

// kept reports whether an answer is kept under its key. Neither our
// failures (5xx) nor answers that are not final (202: the payment's
// outcome is pending) are kept: a retry runs again, and the operation,
// idempotent in itself, then says how it stands. Nor is a 400: the request
// was refused for what it says before anything was done, and the corrected
// request may use the key (ADR 0041). Nor is an answer that asks for a
// retry (Retry-After): it says the request met a passing state, such as a
// product edited while its order was priced, not how it ends.
func kept(rec *recorder) bool {
	return rec.status < 500 && rec.status != http.StatusAccepted && rec.status != http.StatusBadRequest &&
		rec.header.Get("Retry-After") == ""
}

// heldKey is a key this request holds.
type heldKey struct {
	key, holder string
	claimedAt   time.Time // taken just before the claim: the lease runs from no earlier
}

// errLeaseLost cuts off work whose key may be taken over by a retry.
var errLeaseLost = errors.New("idempotency key lease lost")

// runOnce runs h for the key's holder, renewing its lease meanwhile, and
// keeps its answer.
func (a *API) runOnce(w http.ResponseWriter, r *http.Request, c auth.Claims, k heldKey, h func(http.ResponseWriter, *http.Request, string)) {
	rec := newRecorder()
	work, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := a.holdKey(work, cancel, c.UserID, k)
	h(rec, r.WithContext(work), k.key)
	stop()
	// Store the answer even if the client has gone: its retry wants it.
	// The store ignores a holder that lost the key.
	ctx := context.WithoutCancel(r.Context())
	if !kept(rec) {
		if err := a.keys.ReleaseKey(ctx, c.UserID, k.key, k.holder); err != nil {
			a.log.WarnContext(ctx, "release idempotency key", "err", err)
		}
	} else if err := a.keys.CompleteKey(ctx, c.UserID, k.key, k.holder, rec.status, rec.body.Bytes()); err != nil {
		a.log.WarnContext(ctx, "store idempotent answer", "err", err)
	}
	rec.send(w)
}

// holdKey renews k's lease every keyRenew until the returned stop is
// called. When the key is lost (a retry took it over), or no renewal has
// succeeded for keyStall, the work is cancelled: its answer would not be
// kept.
func (a *API) holdKey(ctx context.Context, cancel context.CancelCauseFunc, userID string, k heldKey) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		cutoff := time.NewTimer(time.Until(k.claimedAt.Add(keyStall)))
		defer cutoff.Stop()
		tick := time.NewTicker(keyRenew)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-cutoff.C:
				cancel(errLeaseLost)
				return
			case <-tick.C:
				start := time.Now()
				switch held, err := a.renew(ctx, userID, k); {
				case err != nil:
					// Counted as held until the cutoff.
					a.log.WarnContext(ctx, "renew idempotency key", "err", err)
				case !held:
					cancel(errLeaseLost)
					return
				default:
					cutoff.Reset(time.Until(start.Add(keyStall)))
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// renew extends k's lease, reporting whether k is still held.
func (a *API) renew(ctx context.Context, userID string, k heldKey) (bool, error) {
	// A renewal may wait for a connection as long as the lease lasts.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyLease)
	defer cancel()
	return a.keys.RenewKey(rctx, userID, k.key, k.holder, keyLease)
}

func replay(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Idempotent-Replayed", "true")
	writeBody(w, status, body)
}

// writeBody answers with a JSON body already encoded: a problem from
// status 400 on.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	ct := "application/json"
	if status >= 400 {
		ct = "application/problem+json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encodeJSON encodes v as httpx.JSON writes it.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	err := json.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

// recorder keeps a response so it can be stored before it is sent.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, status: http.StatusOK} }

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

// send writes the kept response to w.
func (r *recorder) send(w http.ResponseWriter) {
	maps.Copy(w.Header(), r.header)
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}
