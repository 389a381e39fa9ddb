package payment_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/orders/payment/stripemocktest"
)

const testWebhookSecret = "whsec_test_0123456789"

func newStripe(t *testing.T, cfg payment.StripeConfig) *payment.Stripe {
	t.Helper()
	if cfg.SecretKey == "" {
		cfg.SecretKey = "sk_test_123"
	}
	s, err := payment.NewStripe(cfg)
	if err != nil {
		t.Fatalf("NewStripe() error = %v", err)
	}
	return s
}

// TestStripeAgainstStripeMock runs the adapter against a real stripe-mock,
// which checks every request against Stripe's API specification.
func TestStripeAgainstStripeMock(t *testing.T) {
	t.Parallel()

	t.Run("stock stripe-mock", func(t *testing.T) {
		t.Parallel()
		base := stripemocktest.StartStripeMock(t)
		s := newStripe(t, payment.StripeConfig{APIBase: base, WebhookSecret: testWebhookSecret})

		t.Run("its payment intent fixture, a failed attempt, reads as a decline", func(t *testing.T) {
			// stripe-mock answers every PaymentIntent with a fixture in
			// requires_payment_method with a last_payment_error, whatever the
			// card: this is the decline path end to end, and it proves that
			// stripe-mock accepted every parameter Charge sends.
			got, err := s.Charge(t.Context(), chargeRequest("mock-stock-1", "pm_card_visa"))
			if err != nil {
				t.Fatalf("Charge() error = %v", err)
			}
			if got.Status != orders.ChargeDeclined || !strings.HasPrefix(got.ID, "pi_") || got.DeclineReason == "" {
				t.Fatalf("Charge() = %+v, want a declined pi_ with a reason", got)
			}
		})

		t.Run("a refund of a payment intent returns the refund's id", func(t *testing.T) {
			got, err := s.Refund(t.Context(), orders.RefundRequest{Key: "refund-1", ChargeID: "pi_123", Amount: 500, Currency: "EUR"})
			if err != nil {
				t.Fatalf("Refund() error = %v", err)
			}
			if !strings.HasPrefix(got.ID, "re_") {
				t.Fatalf("Refund() = %+v, want a re_ id", got)
			}
		})

		t.Run("a refund of the whole payment intent leaves the amount out", func(t *testing.T) {
			if _, err := s.Refund(t.Context(), orders.RefundRequest{Key: "refund-2", ChargeID: "pi_123"}); err != nil {
				t.Fatalf("Refund() error = %v", err)
			}
		})

		t.Run("an event fixture without an API version verifies once signed", func(t *testing.T) {
			payload := getBody(t, base+"/v1/events/evt_mock_1")
			header := signPayload(payload, testWebhookSecret, time.Now())
			got, err := s.VerifyWebhook(payload, header, time.Time{})
			if err != nil {
				t.Fatalf("VerifyWebhook() error = %v", err)
			}
			if got.ID != "evt_mock_1" || got.Type == "" || got.PaymentIntentID != "" || got.Status != "" {
				t.Fatalf("VerifyWebhook() = %+v, want only evt_mock_1's id and type", got)
			}
		})
	})

	t.Run("stripe-mock whose payment intents succeed", func(t *testing.T) {
		t.Parallel()
		base := stripemocktest.StartStripeMock(t, stripemocktest.WithFixture("payment_intent", map[string]any{
			"status":             "succeeded",
			"last_payment_error": nil,
		}))
		s := newStripe(t, payment.StripeConfig{APIBase: base})

		t.Run("a charge with pm_card_visa succeeds and returns the payment intent's id", func(t *testing.T) {
			got, err := s.Charge(t.Context(), chargeRequest("mock-ok-1", "pm_card_visa"))
			if err != nil {
				t.Fatalf("Charge() error = %v", err)
			}
			if got.Status != orders.ChargeSucceeded || !strings.HasPrefix(got.ID, "pi_") {
				t.Fatalf("Charge() = %+v, want a succeeded pi_", got)
			}
		})
	})
}

// recorded is one request the fake Stripe received.
type recorded struct {
	method, path, idempotencyKey string
	form                         url.Values
}

// fakeStripe is an httptest server standing in for Stripe where stripe-mock
// cannot: declines, failures and exact request sequences.
type fakeStripe struct {
	mu       sync.Mutex
	requests []recorded
}

func (f *fakeStripe) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// startFake serves respond's answers, given the number of requests before
// this one, and records every request.
func startFake(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) (*fakeStripe, string) {
	t.Helper()
	f := &fakeStripe{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("fake stripe: parse form: %v", err)
		}
		f.mu.Lock()
		n := len(f.requests)
		f.requests = append(f.requests, recorded{
			method:         r.Method,
			path:           r.URL.Path,
			idempotencyKey: r.Header.Get("Idempotency-Key"),
			form:           r.PostForm,
		})
		f.mu.Unlock()
		respond(n, w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// answer replies with a fixed status and JSON body.
func answer(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, status, body)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func paymentIntentJSON(id, status, extra string) string {
	s := `{"id":"` + id + `","object":"payment_intent","amount":2599,"currency":"eur","status":"` + status + `"`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func TestStripeChargeOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		want    orders.Charge
		wantErr error // nil: no error; errUnknown: an error that is neither sentinel
	}{
		{
			name:   "a card error with HTTP 402 is a decline with the issuer's decline code",
			status: http.StatusPaymentRequired,
			body: `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
				"message":"Your card has insufficient funds.",
				"payment_intent":` + paymentIntentJSON("pi_declined", "requires_payment_method", "") + `}}`,
			want: orders.Charge{ID: "pi_declined", Status: orders.ChargeDeclined, DeclineReason: "insufficient_funds"},
		},
		{
			name:   "a card error without a decline code gives Stripe's code as the reason",
			status: http.StatusPaymentRequired,
			body:   `{"error":{"type":"card_error","code":"expired_card","message":"Your card has expired."}}`,
			want:   orders.Charge{Status: orders.ChargeDeclined, DeclineReason: "expired_card"},
		},
		{
			name:   "a payment intent back in requires_payment_method with a last payment error is a decline",
			status: http.StatusOK,
			body: paymentIntentJSON("pi_failed", "requires_payment_method",
				`"last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"do_not_honor"}`),
			want: orders.Charge{ID: "pi_failed", Status: orders.ChargeDeclined, DeclineReason: "do_not_honor"},
		},
		{
			name:   "a payment intent that needs the buyer's authentication is a decline",
			status: http.StatusOK,
			body:   paymentIntentJSON("pi_3ds", "requires_action", ""),
			want:   orders.Charge{ID: "pi_3ds", Status: orders.ChargeDeclined, DeclineReason: "authentication_required"},
		},
		{
			name:    "an unknown payment method is ErrPaymentMethodInvalid",
			status:  http.StatusBadRequest,
			body:    `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"payment_method","message":"No such PaymentMethod: 'pm_nope'"}}`,
			wantErr: orders.ErrPaymentMethodInvalid,
		},
		{
			name:    "a bad API key is an unknown outcome: it says nothing of an earlier attempt under the key",
			status:  http.StatusUnauthorized,
			body:    `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_***"}}`,
			wantErr: errUnknown,
		},
		{
			name:    "a key reused with other parameters is ErrKeyReused",
			status:  http.StatusBadRequest,
			body:    `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`,
			wantErr: payment.ErrKeyReused,
		},
		{
			name:    "HTTP 500 is an unknown outcome, not a decline",
			status:  http.StatusInternalServerError,
			body:    `{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`,
			wantErr: errUnknown,
		},
		{
			name:    "a rate limit is an unknown outcome",
			status:  http.StatusTooManyRequests,
			body:    `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests."}}`,
			wantErr: errUnknown,
		},
		{
			name:    "a body that is not Stripe's JSON is an unknown outcome",
			status:  http.StatusBadGateway,
			body:    `<html>bad gateway</html>`,
			wantErr: errUnknown,
		},
		{
			name:    "a payment intent still in requires_confirmation is an unknown outcome",
			status:  http.StatusOK,
			body:    paymentIntentJSON("pi_odd", "requires_confirmation", ""),
			wantErr: errUnknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, base := startFake(t, answer(tt.status, tt.body))
			s := newStripe(t, payment.StripeConfig{APIBase: base})
			got, err := s.Charge(t.Context(), chargeRequest("k1", "pm_card_visa"))
			checkOutcomeError(t, err, tt.wantErr)
			if got != tt.want {
				t.Fatalf("Charge() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// errUnknown stands, in tables, for an error meaning "outcome unknown": one
// that matches none of the sentinels a caller acts on.
var errUnknown = errors.New("outcome unknown")

func checkOutcomeError(t *testing.T, err, want error) {
	t.Helper()
	switch want {
	case nil:
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
	case errUnknown:
		if err == nil {
			t.Fatal("error = nil, want an unknown outcome")
		}
		for _, sentinel := range []error{orders.ErrPaymentMethodInvalid, payment.ErrRejected, payment.ErrKeyReused} {
			if errors.Is(err, sentinel) {
				t.Fatalf("error = %v, an unknown outcome must not match %v", err, sentinel)
			}
		}
	default:
		if !errors.Is(err, want) {
			t.Fatalf("error = %v, want %v", err, want)
		}
	}
}

func TestStripeChargeRequests(t *testing.T) {
	t.Parallel()

	t.Run("an authorised payment intent is captured, each step under its own key", func(t *testing.T) {
		t.Parallel()
		fake, base := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/payment_intents":
				writeJSON(w, http.StatusOK, paymentIntentJSON("pi_auth", "requires_capture", ""))
			case "/v1/payment_intents/pi_auth/capture":
				writeJSON(w, http.StatusOK, paymentIntentJSON("pi_auth", "succeeded", ""))
			default:
				http.NotFound(w, r)
			}
		})
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		req := orders.ChargeRequest{Key: "order-7:charge", OrderID: "order-7", Amount: 2599, Currency: "EUR", PaymentMethod: "pm_card_visa"}
		got, err := s.Charge(t.Context(), req)
		if err != nil {
			t.Fatalf("Charge() error = %v", err)
		}
		if want := (orders.Charge{ID: "pi_auth", Status: orders.ChargeSucceeded}); got != want {
			t.Fatalf("Charge() = %+v, want %+v", got, want)
		}

		reqs := fake.recorded()
		if len(reqs) != 2 {
			t.Fatalf("got %d requests, want create and capture: %+v", len(reqs), reqs)
		}
		create, capture := reqs[0], reqs[1]
		if create.idempotencyKey != "order-7:charge:create" || capture.idempotencyKey != "order-7:charge:capture" {
			t.Fatalf("idempotency keys = %q, %q", create.idempotencyKey, capture.idempotencyKey)
		}
		if capture.path != "/v1/payment_intents/pi_auth/capture" {
			t.Fatalf("second request went to %s", capture.path)
		}
		for field, want := range map[string]string{
			"amount":             "2599",
			"currency":           "eur",
			"payment_method":     "pm_card_visa",
			"confirm":            "true",
			"capture_method":     "manual",
			"metadata[order_id]": "order-7",
			"automatic_payment_methods[allow_redirects]": "never",
		} {
			if got := create.form.Get(field); got != want {
				t.Errorf("create %s = %q, want %q", field, got, want)
			}
		}
	})

	t.Run("a payment intent still processing is read again", func(t *testing.T) {
		t.Parallel()
		fake, base := startFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				writeJSON(w, http.StatusOK, paymentIntentJSON("pi_slow", "succeeded", ""))
				return
			}
			writeJSON(w, http.StatusOK, paymentIntentJSON("pi_slow", "processing", ""))
		})
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		got, err := s.Charge(t.Context(), chargeRequest("k", "pm_card_visa"))
		if err != nil || got.Status != orders.ChargeSucceeded {
			t.Fatalf("Charge() = %+v, %v; want succeeded", got, err)
		}
		if reqs := fake.recorded(); len(reqs) != 2 || reqs[1].path != "/v1/payment_intents/pi_slow" {
			t.Fatalf("requests = %+v, want a create then a read", reqs)
		}
	})

	t.Run("stripe-go's own retry after a dropped connection sends the same idempotency key", func(t *testing.T) {
		t.Parallel()
		fake, base := startFake(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 0 {
				// stripe-go retries only failures in transit (and lock
				// timeouts), not Stripe's error answers, 5xx included.
				dropConnection(t, w)
				return
			}
			writeJSON(w, http.StatusOK, paymentIntentJSON("pi_retry", "succeeded", ""))
		})
		s := newStripe(t, payment.StripeConfig{APIBase: base, MaxNetworkRetries: 1})
		got, err := s.Charge(t.Context(), chargeRequest("retry-key", "pm_card_visa"))
		if err != nil || got.Status != orders.ChargeSucceeded {
			t.Fatalf("Charge() = %+v, %v; want succeeded", got, err)
		}
		assertKeys(t, fake.recorded(), "retry-key:create", 2)
	})

	t.Run("the caller's repeat after an unknown outcome sends the same idempotency key", func(t *testing.T) {
		t.Parallel()
		fake, base := startFake(t, answer(http.StatusServiceUnavailable, `{"error":{"type":"api_error","message":"unavailable"}}`))
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		req := chargeRequest("repeat-key", "pm_card_visa")
		for range 2 {
			if _, err := s.Charge(t.Context(), req); err == nil {
				t.Fatal("Charge() error = nil, want an unknown outcome")
			}
		}
		assertKeys(t, fake.recorded(), "repeat-key:create", 2)
	})

	t.Run("an HTTP timeout is an unknown outcome", func(t *testing.T) {
		t.Parallel()
		_, base := startFake(t, hang)
		s := newStripe(t, payment.StripeConfig{APIBase: base, Timeout: 100 * time.Millisecond})
		got, err := s.Charge(t.Context(), chargeRequest("k", "pm_card_visa"))
		checkOutcomeError(t, err, errUnknown)
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Fatalf("error = %v, want a timeout", err)
		}
		if got.Status != "" {
			t.Fatalf("Charge() = %+v, want no outcome", got)
		}
	})

	t.Run("the caller's deadline is an unknown outcome", func(t *testing.T) {
		t.Parallel()
		_, base := startFake(t, hang)
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := s.Charge(ctx, chargeRequest("k", "pm_card_visa"))
		checkOutcomeError(t, err, errUnknown)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("a request that cannot be idempotent is refused before it is sent", func(t *testing.T) {
		t.Parallel()
		fake, base := startFake(t, answer(http.StatusOK, paymentIntentJSON("pi_x", "succeeded", "")))
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		_, err := s.Charge(t.Context(), chargeRequest("", "pm_card_visa"))
		checkOutcomeError(t, err, payment.ErrRejected)
		_, err = s.Charge(t.Context(), chargeRequest("k", ""))
		checkOutcomeError(t, err, orders.ErrPaymentMethodInvalid)
		_, err = s.Refund(t.Context(), orders.RefundRequest{ChargeID: "pi_x"})
		checkOutcomeError(t, err, payment.ErrRejected)
		if n := len(fake.recorded()); n != 0 {
			t.Fatalf("%d requests sent, want none", n)
		}
	})

	t.Run("a refund is sent with the caller's key for the payment intent", func(t *testing.T) {
		t.Parallel()
		fake, base := startFake(t, answer(http.StatusOK, `{"id":"re_1","object":"refund","status":"succeeded","amount":500}`))
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		got, err := s.Refund(t.Context(), orders.RefundRequest{Key: "order-7:refund", ChargeID: "pi_auth", Amount: 500, Currency: "EUR"})
		if err != nil || got.ID != "re_1" {
			t.Fatalf("Refund() = %+v, %v; want re_1", got, err)
		}
		reqs := fake.recorded()
		if len(reqs) != 1 || reqs[0].path != "/v1/refunds" || reqs[0].idempotencyKey != "order-7:refund" ||
			reqs[0].form.Get("payment_intent") != "pi_auth" || reqs[0].form.Get("amount") != "500" {
			t.Fatalf("requests = %+v", reqs)
		}
	})

	t.Run("a refund Stripe reports as failed is ErrRejected", func(t *testing.T) {
		t.Parallel()
		_, base := startFake(t, answer(http.StatusOK, `{"id":"re_2","object":"refund","status":"failed","failure_reason":"lost_or_stolen_card"}`))
		s := newStripe(t, payment.StripeConfig{APIBase: base})
		_, err := s.Refund(t.Context(), orders.RefundRequest{Key: "r", ChargeID: "pi_auth"})
		checkOutcomeError(t, err, payment.ErrRejected)
	})
}

// dropConnection closes the connection without answering.
func dropConnection(t *testing.T, w http.ResponseWriter) {
	t.Helper()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

// hang answers only when the client gives up.
func hang(_ int, _ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func assertKeys(t *testing.T, reqs []recorded, want string, n int) {
	t.Helper()
	if len(reqs) != n {
		t.Fatalf("got %d requests, want %d", len(reqs), n)
	}
	for i, r := range reqs {
		if r.idempotencyKey != want {
			t.Fatalf("request %d Idempotency-Key = %q, want %q", i, r.idempotencyKey, want)
		}
	}
}

func TestNewStripeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]payment.StripeConfig{
		"an empty secret key":        {},
		"an API base that is no URL": {SecretKey: "sk", APIBase: "localhost:12111"},
		"negative retries":           {SecretKey: "sk", MaxNetworkRetries: -1},
	} {
		t.Run("it refuses "+name, func(t *testing.T) {
			if _, err := payment.NewStripe(cfg); err == nil {
				t.Fatal("NewStripe() error = nil")
			}
		})
	}
}

func signPayload(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func getBody(t *testing.T, u string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk_test_123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", u, resp.Status, err)
	}
	return body
}

func TestStripeVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	event := func(id, typ, object string) []byte {
		return []byte(`{"id":"` + id + `","object":"event","api_version":"2025-01-27.acacia","type":"` + typ + `","data":{"object":` + object + `}}`)
	}
	pi := paymentIntentJSON("pi_1", "succeeded", `"metadata":{"order_id":"order-1"}`)
	succeeded := event("evt_1", "payment_intent.succeeded", pi)

	tests := []struct {
		name    string
		payload []byte
		header  string
		want    payment.WebhookEvent
		wantErr error
	}{
		{
			name:    "a signed payment_intent.succeeded gives the intent, the order and success",
			payload: succeeded,
			header:  signPayload(succeeded, testWebhookSecret, now.Add(-time.Minute)),
			want:    payment.WebhookEvent{ID: "evt_1", Type: "payment_intent.succeeded", PaymentIntentID: "pi_1", OrderID: "order-1", Status: orders.ChargeSucceeded},
		},
		{
			name:    "a signed payment_intent.payment_failed gives a decline",
			payload: event("evt_2", "payment_intent.payment_failed", pi),
			header:  signPayload(event("evt_2", "payment_intent.payment_failed", pi), testWebhookSecret, now),
			want:    payment.WebhookEvent{ID: "evt_2", Type: "payment_intent.payment_failed", PaymentIntentID: "pi_1", OrderID: "order-1", Status: orders.ChargeDeclined},
		},
		{
			name:    "another event type gives only its id and type",
			payload: event("evt_3", "charge.refunded", `{"id":"ch_1","object":"charge"}`),
			header:  signPayload(event("evt_3", "charge.refunded", `{"id":"ch_1","object":"charge"}`), testWebhookSecret, now),
			want:    payment.WebhookEvent{ID: "evt_3", Type: "charge.refunded"},
		},
		{
			name:    "a signature just inside five minutes verifies",
			payload: succeeded,
			header:  signPayload(succeeded, testWebhookSecret, now.Add(-5*time.Minute+time.Second)),
			want:    payment.WebhookEvent{ID: "evt_1", Type: "payment_intent.succeeded", PaymentIntentID: "pi_1", OrderID: "order-1", Status: orders.ChargeSucceeded},
		},
		{
			name:    "a tampered payload is refused",
			payload: []byte(strings.Replace(string(succeeded), "order-1", "order-2", 1)),
			header:  signPayload(succeeded, testWebhookSecret, now),
			wantErr: payment.ErrWebhookSignature,
		},
		{
			name:    "a payload signed with another secret is refused",
			payload: succeeded,
			header:  signPayload(succeeded, "whsec_someone_else", now),
			wantErr: payment.ErrWebhookSignature,
		},
		{
			name:    "a signature older than five minutes is refused",
			payload: succeeded,
			header:  signPayload(succeeded, testWebhookSecret, now.Add(-5*time.Minute-time.Second)),
			wantErr: webhook.ErrTooOld,
		},
		{
			name:    "a missing signature header is refused",
			payload: succeeded,
			header:  "",
			wantErr: payment.ErrWebhookSignature,
		},
		{
			name:    "a garbled signature header is refused",
			payload: succeeded,
			header:  "t=now,v1",
			wantErr: payment.ErrWebhookSignature,
		},
		{
			name:    "a signed payload that is not JSON is malformed",
			payload: []byte(`{"id":`),
			header:  signPayload([]byte(`{"id":`), testWebhookSecret, now),
			wantErr: payment.ErrWebhookPayload,
		},
		{
			name:    "a signed payment intent event without a payment intent is malformed",
			payload: event("evt_4", "payment_intent.succeeded", `{"id":"ch_1","object":"charge"}`),
			header:  signPayload(event("evt_4", "payment_intent.succeeded", `{"id":"ch_1","object":"charge"}`), testWebhookSecret, now),
			wantErr: payment.ErrWebhookPayload,
		},
	}
	s := newStripe(t, payment.StripeConfig{APIBase: "http://127.0.0.1:1", WebhookSecret: testWebhookSecret})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.VerifyWebhook(tt.payload, tt.header, now)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("VerifyWebhook() error = %v", err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyWebhook() error = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(tt.wantErr, webhook.ErrTooOld) && !errors.Is(err, payment.ErrWebhookSignature) {
				t.Fatalf("VerifyWebhook() error = %v, want it to wrap ErrWebhookSignature", err)
			}
			if got != tt.want {
				t.Fatalf("VerifyWebhook() = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("an adapter without a webhook secret refuses every event", func(t *testing.T) {
		t.Parallel()
		bare := newStripe(t, payment.StripeConfig{})
		if _, err := bare.VerifyWebhook(succeeded, signPayload(succeeded, "", now), now); !errors.Is(err, payment.ErrWebhookSignature) {
			t.Fatalf("VerifyWebhook() error = %v, want ErrWebhookSignature", err)
		}
	})
}
