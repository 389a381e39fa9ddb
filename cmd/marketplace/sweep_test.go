package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// TestSweepOfEveryOperationWithCasesMadeFromTheSpecGivesNo500 sends, for
// every operation of api/openapi.yaml that the gateway serves, a request
// made from its schemas and then that request broken one way at a time:
// each required member left out, each member of the wrong type, strings
// too long or carrying a NUL or a control character, values outside an
// enum, bad path ids, bad query values and unknown parameters, a body that
// is not an object. Nothing may answer 5xx, and every answer must be one
// the spec documents, valid against its schema. Unlike the contract test,
// which states the answer each case wants, the cases here are generated:
// the claim is only "a 4xx that says why, or success", never a 500.
func TestSweepOfEveryOperationWithCasesMadeFromTheSpecGivesNo500(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	getenv := testEnv(t, nil)
	addrs, _ := startServe(t, getenv)
	spec := loadContract(t)
	gw := spec.edge(addrs["gateway"])
	s := newSweep(t, gw, getenv)

	sent, failed := 0, 0
	for _, path := range slices.Sorted(maps.Keys(spec.doc.Paths.Map())) {
		item := spec.doc.Paths.Value(path)
		for _, method := range slices.Sorted(maps.Keys(item.Operations())) {
			op := item.Operations()[method]
			if sweepSkips[op.OperationID] {
				continue
			}
			for _, c := range s.cases(method, path, item, op) {
				sent++
				if !s.check(t, op.OperationID, c) {
					failed++
				}
			}
		}
	}
	t.Logf("sweep: %d requests over the spec's operations, %d answered 5xx or off the spec", sent, failed)
}

// sweepSkips are the operations the gateway does not serve: metrics and
// the profiles are on the services' own listeners, and the webhook exists
// only with the Stripe gateway (the contract test covers all four).
var sweepSkips = map[string]bool{"getMetrics": true, "getProfiles": true, "getProfile": true, "paymentWebhook": true}

// gatewayAnswers are the answers the spec documents once, in its
// conventions, for every operation instead of on each: they are valid
// wherever they come, as problems.
var gatewayAnswers = map[int]bool{
	http.StatusUnauthorized: true, http.StatusRequestEntityTooLarge: true, http.StatusTooManyRequests: true,
	http.StatusServiceUnavailable: true,
}

// sweep holds the callers and ids the generated cases use.
type sweep struct {
	e edge
	// root is an admin who is a seller and a buyer too, so every operation
	// is open to it; leaver signs out everywhere (logoutAll) so root
	// keeps its session.
	root, leaver httpxtest.Caller
	// ids are real ids by the path they name, so positive cases reach a
	// resource rather than a 404.
	ids map[string]string
}

func newSweep(t *testing.T, e edge, getenv func(string) (string, bool)) *sweep {
	t.Helper()
	s := &sweep{e: e, ids: map[string]string{}}
	var refresh string
	s.root, refresh = e.signUp(t, "root@example.com")
	if err := run(context.Background(), []string{"grant-role", "--email=root@example.com", "--role=admin"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	e.openShop(t, s.root, "Sweepers")
	s.root.Token = e.refresh(t, refresh)
	s.leaver, _ = e.signUp(t, "leaver@example.com")
	e.must(t, "putCategory", s.root, "PUT /v1/categories/lamps", map[string]any{"name": "Lamps", "facets": []string{"colour"}}, http.StatusCreated)
	lamp := e.listProduct(t, s.root, "Sweep Lamp", "EUR", "active")
	e.must(t, "putStock", s.root, "PUT /v1/stock/"+lamp, map[string]any{"on_hand": 1000}, http.StatusOK)
	o := e.checkOut(t, s.root, lamp)
	s.ids = map[string]string{
		"/v1/admin/users/": s.leaver.ID, "/v1/categories/": "lamps", "/v1/products/": lamp,
		"/v1/cart/items/": lamp, "/v1/stock/": lamp, "/v1/orders/": o.id, "/v1/sub-orders/": o.subOrder,
	}
	return s
}

// sweepCase is one generated request.
type sweepCase struct {
	name, method, path string
	query              url.Values
	header             http.Header
	body               []byte // nil: none
	as                 httpxtest.Caller
}

// cases makes the positive request of an operation and its negatives.
func (s *sweep) cases(method, path string, item *openapi3.PathItem, op *openapi3.Operation) []sweepCase {
	as := s.root
	if op.OperationID == "logoutAll" {
		as = s.leaver
	}
	params := append(slices.Clone(item.Parameters), op.Parameters...)
	pathValues, query, header := map[string]string{}, url.Values{}, http.Header{}
	for _, p := range params {
		v := p.Value
		switch v.In {
		case "path":
			pathValues[v.Name] = s.pathValue(path, v)
		case "query":
			if v.Required {
				query.Set(v.Name, fmt.Sprint(example(v.Schema, 0)))
			}
		case "header":
			if v.Name == "Idempotency-Key" {
				header.Set(v.Name, uuid.NewString())
			}
		}
	}
	var body []byte
	var bodySchema *openapi3.SchemaRef
	var valid any // the body the negative cases break, one member at a time
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			bodySchema = mt.Schema
			// The operation's own example is a body the service accepts;
			// one made from the schema's types alone may not be (a phone
			// "a"), and then every member's break is refused for that
			// instead of reaching the stores.
			valid = mt.Example
			if valid == nil {
				valid = example(bodySchema, 0)
			}
			body, _ = json.Marshal(valid)
		}
	}
	base := sweepCase{name: "made from the schemas", method: method, path: fill(path, pathValues), query: query, header: header, body: body, as: as}
	out := []sweepCase{base}
	with := func(name string, change func(c *sweepCase)) {
		c := base
		c.name, c.query, c.header = name, cloneValues(base.query), base.header.Clone()
		change(&c)
		out = append(out, c)
	}
	for name := range pathValues {
		for _, bad := range []string{"%00", "%ff", strings.Repeat("a", 5000), "not-an-id", "%27%20OR%201=1%20--", strings.ToUpper(uuid.NewString())} {
			with("path "+name+" = "+short(bad), func(c *sweepCase) {
				vals := maps.Clone(pathValues)
				vals[name] = bad
				c.path = fill(path, vals)
			})
		}
	}
	for _, p := range params {
		v := p.Value
		switch v.In {
		case "query":
			for _, bad := range badValues(v.Schema) {
				with("query "+v.Name+" = "+short(fmt.Sprint(bad)), func(c *sweepCase) { c.query.Set(v.Name, fmt.Sprint(bad)) })
			}
		case "header":
			with("header "+v.Name+" too long", func(c *sweepCase) { c.header.Set(v.Name, strings.Repeat("k", 300)) })
			with("header "+v.Name+" with a space", func(c *sweepCase) { c.header.Set(v.Name, "a b") })
		}
	}
	with("an unknown query parameter", func(c *sweepCase) { c.query.Set("zzz", "1") })
	if bodySchema != nil {
		for _, bad := range badBodies(bodySchema, valid) {
			with("body "+bad.name, func(c *sweepCase) { c.body = bad.body })
		}
	}
	with("a forged token", func(c *sweepCase) { c.as = httpxtest.Caller{Token: "eyJhbGciOiJub25lIn0.e30."} })
	return out
}

// pathValue is a real id for a path parameter where the sweep made one,
// else one made from its schema.
func (s *sweep) pathValue(path string, p *openapi3.Parameter) string {
	for prefix, id := range s.ids {
		if strings.HasPrefix(path, prefix+"{"+p.Name+"}") {
			return id
		}
	}
	return url.PathEscape(fmt.Sprint(example(p.Schema, 0)))
}

func fill(path string, values map[string]string) string {
	for k, v := range values {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// clip shortens an answer's body for a failure message.
func clip(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// short names a long value by its start and length.
func short(s string) string {
	if len(s) > 24 {
		return fmt.Sprintf("%s... (%d characters)", s[:12], len(s))
	}
	return s
}

// example makes a value its schema accepts, as far as the schema says:
// its example, else its enum's first value, else one of its type.
func example(ref *openapi3.SchemaRef, depth int) any {
	if ref == nil || ref.Value == nil || depth > 6 {
		return "x"
	}
	sc := ref.Value
	switch {
	case sc.Example != nil:
		return sc.Example
	case len(sc.Enum) > 0:
		return sc.Enum[0]
	case len(sc.AllOf) > 0:
		return example(sc.AllOf[0], depth+1)
	case len(sc.OneOf) > 0:
		return example(sc.OneOf[0], depth+1)
	case len(sc.AnyOf) > 0:
		return example(sc.AnyOf[0], depth+1)
	}
	switch {
	case sc.Type.Is("object") || sc.Properties != nil:
		obj := map[string]any{}
		for name, prop := range sc.Properties {
			obj[name] = example(prop, depth+1)
		}
		return obj
	case sc.Type.Is("array"):
		return []any{example(sc.Items, depth+1)}
	case sc.Type.Is("integer"), sc.Type.Is("number"):
		if sc.Min != nil {
			return *sc.Min
		}
		return 1
	case sc.Type.Is("boolean"):
		return true
	}
	switch sc.Format {
	case "uuid":
		return uuid.Must(uuid.NewV7()).String()
	case "email":
		return "sweep-" + uuid.NewString()[:8] + "@example.com"
	case "uri":
		return "https://img.example.com/a.jpg"
	case "date-time":
		return "2026-01-02T03:04:05Z"
	}
	return strings.Repeat("a", max(int(sc.MinLength), 1))
}

// badValues are query values the schema refuses, or that push on its
// edges: the wrong type, out of range, too long, NUL and control bytes.
func badValues(ref *openapi3.SchemaRef) []string {
	out := []string{"", strings.Repeat("z", 5000), "a\x00b", "a\x07b", "\xff", "not-a-choice"}
	if ref != nil && ref.Value != nil && (ref.Value.Type.Is("integer") || ref.Value.Type.Is("number")) {
		out = append(out, "-1", "0", "1.5", "1e400", "99999999999999999999999")
	}
	return out
}

// halfSurrogate stands, in a body made with json.Marshal (which writes only
// valid UTF-16), for the escape \ud800: half a surrogate pair, which Go's
// decoder reads as U+FFFD but PostgreSQL's jsonb refuses.
const halfSurrogate = "HALF_SURROGATE"

type badBody struct {
	name string
	body []byte
}

// badBodies breaks example, a valid body of schema ref, one member at a
// time.
func badBodies(ref *openapi3.SchemaRef, example any) []badBody {
	out := []badBody{
		{"not JSON", []byte(`{"a":`)}, {"an array", []byte(`[]`)}, {"null", []byte(`null`)},
		{"bytes that are not UTF-8", []byte("{\"a\":\"\xff\"}")}, {"an empty object", []byte(`{}`)},
		{"an unknown member", []byte(`{"roles":["admin"]}`)},
	}
	sc := ref.Value
	if sc == nil {
		return out
	}
	valid, _ := example.(map[string]any)
	if valid == nil {
		return out
	}
	mutate := func(name string, change func(m map[string]any)) {
		m := maps.Clone(valid)
		change(m)
		b, _ := json.Marshal(m)
		out = append(out, badBody{name, bytes.ReplaceAll(b, []byte(halfSurrogate), []byte(`\ud800`))})
	}
	for _, req := range sc.Required {
		mutate("without "+req, func(m map[string]any) { delete(m, req) })
	}
	for _, name := range slices.Sorted(maps.Keys(sc.Properties)) {
		prop := sc.Properties[name].Value
		if prop == nil {
			continue
		}
		mutate(name+" of the wrong type", func(m map[string]any) {
			if prop.Type.Is("string") {
				m[name] = 12345
			} else {
				m[name] = "wrong type"
			}
		})
		mutate(name+" null", func(m map[string]any) { m[name] = nil })
		mutate(name+" too long", func(m map[string]any) { m[name] = strings.Repeat("y", 5000) })
		mutate(name+" with a NUL", func(m map[string]any) { m[name] = "a\x00b" })
		mutate(name+" with a control character", func(m map[string]any) { m[name] = "a\x1bb" })
		mutate(name+" with half a surrogate pair", func(m map[string]any) { m[name] = "a" + halfSurrogate })
		mutate(name+" an object with half a surrogate pair", func(m map[string]any) {
			m[name] = map[string]any{"k" + halfSurrogate: halfSurrogate}
		})
		mutate(name+" a huge number", func(m map[string]any) { m[name] = 1e300 })
		mutate(name+" a nested object", func(m map[string]any) { m[name] = map[string]any{"\x00": []any{nil, map[string]any{}}} })
	}
	return out
}

// check sends c and says whether its answer is below 500 and one the spec
// documents for op (or one of the answers documented for every operation),
// valid against its schema.
func (s *sweep) check(t *testing.T, op string, c sweepCase) bool {
	t.Helper()
	target := s.e.base + c.path
	if len(c.query) > 0 {
		target += "?" + c.query.Encode()
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, target, body)
	if err != nil {
		t.Errorf("%s %s: %v", op, c.name, err)
		return false
	}
	req.Header = c.header.Clone()
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.as.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.as.Token)
	}
	res := roundTrip(t, req)
	what := fmt.Sprintf("%s (%s %s), %s", op, c.method, short(c.path), c.name)
	if res.Status >= 500 && !(res.Status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "") {
		t.Errorf("%s: %d; body %s", what, res.Status, clip(res.Body))
		return false
	}
	// The route is found on the spec's own path, with the values sent.
	vreq, _ := http.NewRequest(c.method, s.e.base+c.path, nil)
	vreq.URL.RawQuery = req.URL.RawQuery
	vreq.Header = req.Header
	route, params, err := s.e.router.FindRoute(vreq)
	if err != nil {
		// A path the spec's router cannot match (a NUL, a 5000-character
		// segment) is still the operation's: check the status only.
		if res.Status >= 400 && res.Problem() == "" {
			t.Errorf("%s: %d is not a problem; body %s", what, res.Status, clip(res.Body))
			return false
		}
		return true
	}
	documented := route.Operation.Responses.Status(res.Status) != nil
	if !documented && !gatewayAnswers[res.Status] {
		t.Errorf("%s: %d is not documented; body %s", what, res.Status, clip(res.Body))
		return false
	}
	if !documented {
		if res.Problem() == "" {
			t.Errorf("%s: %d is not a problem; body %s", what, res.Status, clip(res.Body))
			return false
		}
		return true
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: s.e.options}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(res.Body)), Options: s.e.options,
	}); err != nil {
		t.Errorf("%s: the %d answer breaks the spec: %v\nbody %s", what, res.Status, err, clip(res.Body))
		return false
	}
	return true
}
