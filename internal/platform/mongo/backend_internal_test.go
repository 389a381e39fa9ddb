package mongo

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

func TestTheEmbeddedFerretDBsPostgreSQLSettingsDefaultUnlessTheURLSetsThem(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		wantPlans    string
		wantMaxConns string
	}{
		{"a bare URL gets custom plans and our pool size", "postgres://u@h:5432/catalog?sslmode=disable",
			"force_custom_plan", strconv.Itoa(pg.DefaultMaxConns)},
		{"a URL's own settings are kept", "postgres://u@h:5432/catalog?sslmode=disable&plan_cache_mode=auto&pool_max_conns=5",
			"auto", "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backendURL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if q.Get("plan_cache_mode") != tc.wantPlans || q.Get("pool_max_conns") != tc.wantMaxConns || q.Get("sslmode") != "disable" {
				t.Errorf("backendURL(%q) = %q, want plan_cache_mode=%s, pool_max_conns=%s and sslmode kept", tc.in, got, tc.wantPlans, tc.wantMaxConns)
			}
		})
	}
}
