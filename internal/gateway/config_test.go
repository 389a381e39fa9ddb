package gateway_test

import (
	"strings"
	"testing"

	"github.com/marketplace-go/marketplace/internal/gateway"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/discovery"
)

func load(vars map[string]string, etcd ...string) (gateway.Settings, error) {
	e := config.FromLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	sh := config.Shared{JWKSURL: "http://users/.well-known/jwks.json", Issuer: "iss", Audience: "aud",
		RedisURL: "redis://localhost:6379/0", EtcdEndpoints: etcd}
	s := gateway.LoadSettings(e, sh, platform())
	return s, e.Err()
}

func TestBadGatewaySettingsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, variable, value string }{
		{"a host without a scheme", "GATEWAY_USERS_URLS", "localhost:8081"},
		{"a URL with a path", "GATEWAY_PRODUCTS_URLS", "http://p/v1"},
		{"an ftp URL", "GATEWAY_ORDERS_URLS", "ftp://o"},
		{"a DNS name among URLs", "GATEWAY_ORDERS_URLS", "dns+http://o:8083,http://o2"},
		{"a DNS name with a path", "GATEWAY_ORDERS_URLS", "dns+http://orders:8083/v1"},
		{"an unknown balancing policy", "GATEWAY_BALANCE", "random"},
		{"a malformed limit", "GATEWAY_RATE_LOGIN", "ten a minute"},
		{"rate limits neither on nor off", "GATEWAY_RATE_LIMITS", "maybe"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := load(map[string]string{tt.variable: tt.value})
			if err == nil || !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("error %v, want one naming %s", err, tt.variable)
			}
		})
	}
}

func TestEachServiceGetsItsInstancesFromURLsDNSOrEtcd(t *testing.T) {
	t.Parallel()
	s, err := load(map[string]string{
		"GATEWAY_USERS_URLS":    "http://u1:8081, http://u2:8081",
		"GATEWAY_PRODUCTS_URLS": "dns+http://products.marketplace.svc:8082",
	}, "http://127.0.0.1:2379")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sources(nil, nil); err == nil {
		t.Fatal("orders has no URLs and there is no etcd client, yet sources were built")
	}
	if !s.UsesEtcd() {
		t.Error("orders should come from etcd")
	}
	s.Instances["orders"] = []string{"http://o:8083"}
	sources, err := s.Sources(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := sources["products"].(discovery.DNS); !ok || d.Host != "products.marketplace.svc" || d.Port != "8082" {
		t.Errorf("products source %#v, want DNS", sources["products"])
	}
}
