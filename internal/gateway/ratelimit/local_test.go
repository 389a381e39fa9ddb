package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestLocalBucketsAreBounded(t *testing.T) {
	t.Parallel()
	perSecond := Limit{Rate: 1, Burst: 1, Period: time.Second}        // refills in 1s: idle after the 1min floor
	quarterHour := Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute} // refills in 15min
	t0 := time.Now()
	tests := []struct {
		name  string
		limit Limit
		idle  time.Duration // since the first keys were used
		want  int           // buckets held after one more key
	}{
		{name: "recently used keys stay", limit: perSecond, idle: 59 * time.Second, want: 11},
		{name: "keys idle for a minute go", limit: perSecond, idle: 61 * time.Second, want: 1},
		{name: "keys stay until their bucket has refilled", limit: quarterHour, idle: 14 * time.Minute, want: 11},
		{name: "keys go once their bucket has refilled", limit: quarterHour, idle: 16 * time.Minute, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLocalLimiters(100)
			for i := range 10 {
				s.allow("client-"+strconv.Itoa(i), tt.limit, t0)
			}
			s.allow("late", tt.limit, t0.Add(tt.idle))
			if got := s.len(); got != tt.want {
				t.Errorf("%d buckets held; want %d", got, tt.want)
			}
		})
	}
}

func TestLocalBucketsSurviveAFloodOfClients(t *testing.T) {
	t.Parallel()
	l := New(nil, "", nil, nil, WithMaxLocalKeys(100))
	lim := Limit{Rate: 1, Period: time.Hour}
	for i := range 10_000 {
		l.Allow(t.Context(), "login", "198.51.100."+strconv.Itoa(i), lim)
	}
	if got := l.local.len(); got != 100 {
		t.Fatalf("%d buckets after 10000 clients; want the cap of 100", got)
	}
	// The least recently used go first, so the latest client is still limited.
	if res := l.Allow(t.Context(), "login", "198.51.100.9999", lim); res.Allowed {
		t.Errorf("latest client: %+v; want still refused", res)
	}
}
