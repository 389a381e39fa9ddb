// Package api holds the public API's descriptions, embedded so that the
// binary can serve them.
package api

import _ "embed"

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns api/openapi.yaml, the HTTP API's description.
func OpenAPI() []byte { return openAPI }
