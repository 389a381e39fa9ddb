package ratelimit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
)

func TestWriteHeaders(t *testing.T) {
	t.Parallel()
	perMinute := ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}
	bursty := ratelimit.Limit{Rate: 10, Burst: 20, Period: time.Second}
	tests := []struct {
		name string
		res  ratelimit.Result
		want http.Header
	}{
		{
			name: "an allowed request learns its budget, with the reset rounded up",
			res:  ratelimit.Result{Allowed: true, Limit: perMinute, Remaining: 99, ResetAfter: 600 * time.Millisecond},
			want: http.Header{
				"Ratelimit-Limit":     {"100"},
				"Ratelimit-Remaining": {"99"},
				"Ratelimit-Reset":     {"1"},
				"Ratelimit-Policy":    {"100;w=60"},
			},
		},
		{
			name: "a refused request is told when to retry, at least a second away",
			res:  ratelimit.Result{Limit: bursty, RetryAfter: 100 * time.Millisecond, ResetAfter: 2 * time.Second},
			want: http.Header{
				"Ratelimit-Limit":     {"20"},
				"Ratelimit-Remaining": {"0"},
				"Ratelimit-Reset":     {"1"},
				"Ratelimit-Policy":    {"10;w=1;burst=20"},
				"Retry-After":         {"1"},
			},
		},
		{
			name: "a refused request's reset is the moment of its Retry-After",
			res:  ratelimit.Result{Limit: perMinute, RetryAfter: 20200 * time.Millisecond, ResetAfter: time.Minute},
			want: http.Header{
				"Ratelimit-Limit":     {"100"},
				"Ratelimit-Remaining": {"0"},
				"Ratelimit-Reset":     {"21"},
				"Ratelimit-Policy":    {"100;w=60"},
				"Retry-After":         {"21"},
			},
		},
		{
			name: "an unlimited request gets no headers",
			res:  ratelimit.Result{Allowed: true},
			want: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			ratelimit.WriteHeaders(h, tt.res)
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}
