package httpx_test

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

func TestAnIPv6ClientIsCountedByItsSlash64(t *testing.T) {
	t.Parallel()
	tests := []struct{ ip, key string }{
		{"203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::2", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.9", "::ffff:203.0.113.9"},
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := httpx.ClientKey(tt.ip); got != tt.key {
			t.Errorf("ClientKey(%q) = %q, want %q", tt.ip, got, tt.key)
		}
	}
}
