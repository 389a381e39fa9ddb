package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		peer    string
		xff     []string // one entry per header line
		trusted []netip.Prefix
		want    string
	}{
		{name: "an untrusted peer is the client", peer: "203.0.113.7:4711", want: "203.0.113.7"},
		{name: "an untrusted peer's forwarded header is ignored", peer: "203.0.113.7:4711", xff: []string{"198.51.100.9"}, want: "203.0.113.7"},
		{name: "with no trusted proxies the header is ignored", peer: "10.0.0.1:80", xff: []string{"198.51.100.9"}, trusted: []netip.Prefix{}, want: "10.0.0.1"},
		{name: "a trusted proxy's forwarded client is believed", peer: "10.0.0.1:80", xff: []string{"198.51.100.9"}, want: "198.51.100.9"},
		{
			name: "through a chain of proxies the right-most untrusted hop is the client",
			peer: "10.0.0.1:80", xff: []string{"6.6.6.6, 198.51.100.9, 10.0.0.2"}, want: "198.51.100.9",
		},
		{
			name: "hops the client wrote left of the real one are ignored",
			peer: "10.0.0.1:80", xff: []string{"1.1.1.1,2.2.2.2,  198.51.100.9"}, want: "198.51.100.9",
		},
		{
			name: "a hop list split over several header lines is read as one",
			peer: "10.0.0.1:80", xff: []string{"6.6.6.6", "198.51.100.9, 10.0.0.2"}, want: "198.51.100.9",
		},
		{name: "when every hop is trusted the left-most is the client", peer: "10.0.0.1:80", xff: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.3"},
		{name: "a trusted peer without the header is the client", peer: "10.0.0.1:80", want: "10.0.0.1"},
		{name: "a garbage header leaves the trusted peer", peer: "10.0.0.1:80", xff: []string{"not an address"}, want: "10.0.0.1"},
		{name: "a garbage hop stops the walk at the last trusted hop", peer: "10.0.0.1:80", xff: []string{"198.51.100.9, garbage, 10.0.0.2"}, want: "10.0.0.2"},
		{name: "garbage left of the client is never reached", peer: "10.0.0.1:80", xff: []string{"<script>, 198.51.100.9"}, want: "198.51.100.9"},
		{name: "a hop with a port is garbage", peer: "10.0.0.1:80", xff: []string{"198.51.100.9:1234"}, want: "10.0.0.1"},
		{name: "an IPv6 client behind an IPv6 proxy", peer: "[fd00::1]:443", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "an IPv4-mapped peer matches an IPv4 prefix", peer: "[::ffff:10.0.0.1]:80", xff: []string{"198.51.100.9"}, want: "198.51.100.9"},
		{name: "an IPv4-mapped untrusted peer is reported as IPv4", peer: "[::ffff:203.0.113.7]:80", want: "203.0.113.7"},
		{name: "a peer without a port is still parsed", peer: "203.0.113.7", want: "203.0.113.7"},
		{name: "an unparsable peer is the unspecified address", peer: "pipe", xff: []string{"198.51.100.9"}, want: "0.0.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, line := range tt.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			prefixes := trusted
			if tt.trusted != nil {
				prefixes = tt.trusted
			}
			if got := httpx.ClientIP(r, prefixes); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
