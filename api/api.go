// Package api holds the public API's descriptions, embedded so that the
// binary can serve them.
package api

import _ "embed"

//go:generate go run ./reference/gen reference.html

//go:embed openapi.yaml
var openAPI []byte

// referencePage is rendered from openapi.yaml by package reference, ahead
// of time: see its documentation for why.
//
//go:embed reference.html
var referencePage []byte

// OpenAPI returns api/openapi.yaml, the HTTP API's description.
func OpenAPI() []byte { return openAPI }

// Reference returns the API reference rendered from api/openapi.yaml, for
// the gateway to serve at GET /api/: one page with inline CSS, no scripts
// and nothing fetched from elsewhere, so it works under the policy
// "default-src 'none'; style-src 'unsafe-inline'". Callers must not modify
// the bytes.
func Reference() []byte { return referencePage }
