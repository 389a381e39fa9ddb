package orderapi

import (
	"net/http"
	"testing"
)

func TestOnlyFinalAnswersAreKeptUnderTheirKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		status     int
		retryAfter bool
		want       bool
	}{
		{"an order made", http.StatusCreated, false, true},
		{"a refusal of what cannot be sold", http.StatusUnprocessableEntity, false, true},
		{"a refusal for too little stock", http.StatusConflict, false, true},
		{"a conflict that asks for a retry", http.StatusConflict, true, false},
		{"a payment whose outcome is pending", http.StatusAccepted, false, false},
		{"a request refused for what it says", http.StatusBadRequest, false, false},
		{"our failure", http.StatusServiceUnavailable, true, false},
	}
	for _, c := range cases {
		rec := newRecorder()
		if c.retryAfter {
			rec.Header().Set("Retry-After", "1")
		}
		rec.WriteHeader(c.status)
		if got := kept(rec); got != c.want {
			t.Errorf("%s: kept = %v, want %v", c.name, got, c.want)
		}
	}
}
