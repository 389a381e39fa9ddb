package gateway

import (
	"fmt"
	"net/http"
	"strings"

	"go.yaml.in/yaml/v4"
)

// operations is what the API description says about each operation that
// the gateway acts on, so that the gateway follows the same contract as
// the services (which api/spec_test.go holds them to).
type operations struct {
	// open need no token (security: []). The services ignore any
	// Authorization header there, so the gateway does too: a client
	// holding an expired token can still log in or refresh.
	open *http.ServeMux
	// keyed take an Idempotency-Key: with one, a retry is harmless.
	keyed *http.ServeMux
}

// operation is the part of an OpenAPI operation the gateway reads.
type operation struct {
	Security   *[]map[string][]string `yaml:"security"`
	Parameters []struct {
		Ref  string `yaml:"$ref"`
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	} `yaml:"parameters"`
}

func (op operation) takesIdempotencyKey() bool {
	for _, p := range op.Parameters {
		if p.Ref == "#/components/parameters/IdempotencyKey" || strings.EqualFold(p.Name, "Idempotency-Key") && p.In == "header" {
			return true
		}
	}
	return false
}

func readOperations(spec []byte) (operations, error) {
	var doc struct {
		Security []map[string][]string           `yaml:"security"`
		Paths    map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return operations{}, fmt.Errorf("gateway: read the API description: %w", err)
	}
	ops := operations{open: http.NewServeMux(), keyed: http.NewServeMux()}
	for path, item := range doc.Paths {
		pattern := path
		if strings.HasSuffix(pattern, "/") {
			pattern += "{$}" // the path itself, not everything below it
		}
		for method, node := range item {
			m := strings.ToUpper(method)
			switch m {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			default:
				continue // parameters, servers, summary...
			}
			var op operation
			if err := node.Decode(&op); err != nil {
				return operations{}, fmt.Errorf("gateway: read %s %s: %w", m, path, err)
			}
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			if len(security) == 0 {
				ops.open.Handle(m+" "+pattern, http.NotFoundHandler())
			}
			if op.takesIdempotencyKey() {
				ops.keyed.Handle(m+" "+pattern, http.NotFoundHandler())
			}
		}
	}
	return ops, nil
}

// public reports whether r is an operation that needs no token.
func (o operations) public(r *http.Request) bool { return matches(o.open, r) }

// idempotent reports whether sending r twice does what sending it once
// does: by its method, or by an Idempotency-Key the operation honours
// (elsewhere the key means nothing, and a repeat would act twice).
func (o operations) idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != "" && matches(o.keyed, r)
}

func matches(mux *http.ServeMux, r *http.Request) bool {
	_, pattern := mux.Handler(r)
	return pattern != ""
}
