package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestPreparationCallsWaitOutRateLimitsAndBusyAnswers(t *testing.T) {
	tests := []struct {
		name     string
		refusals int // answers of status before a 200
		status   int
		maxWaits int
		wantErr  bool
	}{
		{"a 429 with Retry-After is waited out", 2, http.StatusTooManyRequests, 5, false},
		{"a 503 busy is waited out", 1, http.StatusServiceUnavailable, 5, false},
		{"waiting ends after maxWaits retries", 3, http.StatusTooManyRequests, 2, true},
		{"other errors are not retried", 1, http.StatusConflict, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tt.refusals {
					w.Header().Set("Retry-After", "0") // read as the client's pause
					w.WriteHeader(tt.status)
					return
				}
				_, _ = w.Write([]byte(`{"id":"u1"}`))
			}))
			defer srv.Close()
			c := &apiClient{base: srv.URL, http: srv.Client(), maxWaits: tt.maxWaits, pause: time.Millisecond}
			var out struct{ ID string }
			err := c.do(context.Background(), "", "POST", "/v1/auth/register", map[string]string{"email": "a@b.c"}, &out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var apiErr *apiError
			if tt.wantErr && (!errors.As(err, &apiErr) || apiErr.Status != tt.status) {
				t.Errorf("err = %v, want an apiError with status %d", err, tt.status)
			}
			if !tt.wantErr && out.ID != "u1" {
				t.Errorf("decoded %+v", out)
			}
		})
	}
}
