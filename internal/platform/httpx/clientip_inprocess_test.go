package httpx_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

func TestClientIPBelievesTheInProcessCallerButNotLoopback(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name      string
		peer      string
		inProcess bool
		trusted   []netip.Prefix
		forwarded string
		want      string
	}{
		{name: "a local program's forwarded address is ignored by default", peer: "127.0.0.1:50000", forwarded: "203.0.113.9", want: "127.0.0.1"},
		{name: "the in-process gateway's forwarded address is believed", peer: "127.0.0.1:0", inProcess: true, forwarded: "203.0.113.9", want: "203.0.113.9"},
		{name: "an in-process caller that forwards nothing is itself", peer: "127.0.0.1:0", inProcess: true, want: "127.0.0.1"},
		{name: "loopback listed as a proxy is believed", peer: "127.0.0.1:50000", trusted: loopback, forwarded: "203.0.113.9", want: "203.0.113.9"},
		{name: "an in-process caller's trusted hops are skipped", peer: "127.0.0.1:0", inProcess: true, trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			forwarded: "203.0.113.9, 10.0.0.7", want: "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/v1/auth/login", nil)
			r.RemoteAddr = tt.peer
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			if tt.inProcess {
				r = r.WithContext(httpx.WithInProcessCaller(r.Context()))
			}
			if got := httpx.ClientIP(r, tt.trusted); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
