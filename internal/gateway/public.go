package gateway

import (
	"fmt"
	"net/http"
	"strings"

	"go.yaml.in/yaml/v4"
)

// publicOperations reads which operations the API description says need
// no token (security: []). The services ignore any Authorization header
// there, so the gateway does too: a client holding an expired token can
// still log in, refresh or browse categories.
func publicOperations(spec []byte) (*http.ServeMux, error) {
	var doc struct {
		Security []map[string][]string           `yaml:"security"`
		Paths    map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("gateway: read the API description: %w", err)
	}
	mux := http.NewServeMux()
	for path, item := range doc.Paths {
		for method, node := range item {
			m := strings.ToUpper(method)
			switch m {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			default:
				continue // parameters, servers, summary...
			}
			var op struct {
				Security *[]map[string][]string `yaml:"security"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("gateway: read %s %s: %w", m, path, err)
			}
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			if len(security) > 0 {
				continue
			}
			if strings.HasSuffix(path, "/") {
				path += "{$}" // the path itself, not everything below it
			}
			mux.Handle(m+" "+path, http.NotFoundHandler())
		}
	}
	return mux, nil
}

// isPublic reports whether r is an operation that needs no token.
func isPublic(public *http.ServeMux, r *http.Request) bool {
	_, pattern := public.Handler(r)
	return pattern != ""
}
