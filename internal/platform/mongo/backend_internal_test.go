package mongo

import (
	"net/url"
	"testing"
)

func TestTheEmbeddedFerretDBsPostgreSQLSettingsDefaultUnlessTheURLSetsThem(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		wantPlans    string
		wantIdleTime string
	}{
		{"a bare URL gets custom plans and idle connections closed", "postgres://u@h:5432/catalog?sslmode=disable",
			"force_custom_plan", "1m"},
		{"a URL's own settings are kept", "postgres://u@h:5432/catalog?sslmode=disable&plan_cache_mode=auto&pool_max_conn_idle_time=5m",
			"auto", "5m"},
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
			if q.Get("plan_cache_mode") != tc.wantPlans || q.Get("pool_max_conn_idle_time") != tc.wantIdleTime ||
				q.Get("sslmode") != "disable" || q.Has("pool_max_conns") {
				t.Errorf("backendURL(%q) = %q, want plan_cache_mode=%s, pool_max_conn_idle_time=%s, sslmode kept and FerretDB's own pool size",
					tc.in, got, tc.wantPlans, tc.wantIdleTime)
			}
		})
	}
}
