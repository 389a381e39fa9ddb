package gateway

import (
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/config"
)

// Settings is the gateway's configuration as the binary reads it.
type Settings struct {
	Addr     string
	Config   Config
	JWKSURL  string
	Issuer   string
	Audience string
}

// LoadSettings reads the GATEWAY_* variables. Each service's instances are
// a comma-separated list of base URLs.
func LoadSettings(e *config.Env, jwksURL, issuer, audience string) Settings {
	s := Settings{
		Addr:     e.String("GATEWAY_ADDR", ":8080"),
		JWKSURL:  jwksURL,
		Issuer:   issuer,
		Audience: audience,
		Config: Config{
			Upstreams: map[string][]string{
				"users":    urls(e, "GATEWAY_USERS_URLS", "http://localhost:8081"),
				"products": urls(e, "GATEWAY_PRODUCTS_URLS", "http://localhost:8082"),
				"orders":   urls(e, "GATEWAY_ORDERS_URLS", "http://localhost:8083"),
			},
			Timeout:    e.Duration("GATEWAY_TIMEOUT", 10*time.Second),
			Retries:    e.Int("GATEWAY_RETRIES", 2, 0, 10),
			EjectAfter: e.Int("GATEWAY_EJECT_AFTER", 3, 1, 100),
			EjectFor:   e.Duration("GATEWAY_EJECT_FOR", 10*time.Second),
		},
	}
	if s.Config.Retries == 0 {
		s.Config.Retries = -1 // zero in Config means the default
	}
	return s
}

func urls(e *config.Env, name, def string) []string {
	var list []string
	for _, u := range strings.Split(e.String(name, def), ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if err := checkBase(u); err != nil {
			e.Fail(name, "%v", err)
			continue
		}
		list = append(list, u)
	}
	if len(list) == 0 {
		e.Fail(name, "want one or more base URLs, comma-separated")
	}
	return list
}
