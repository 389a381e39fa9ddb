// Package weblink checks links that the service stores for clients and
// browsers to follow, such as product images. It keeps URL parsing out of
// business packages, whose rules say only which links they accept.
package weblink

import "net/url"

// Valid says whether s is an absolute http or https URL with a host and
// without credentials: a link a browser can fetch, that leaks no password
// and runs no script (javascript:, data:).
func Valid(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}
