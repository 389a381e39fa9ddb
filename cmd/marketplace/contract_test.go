package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/api"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
)

// TestContractEveryOperationThroughTheGatewayMatchesTheSpec sends every
// operation of api/openapi.yaml through the API gateway of a running
// platform and checks, with kin-openapi, that each request the test means
// to be valid is valid, that each request it means to be wrong is refused
// by the spec too, and that every answer has a status the operation
// documents and a body (or problem) of its schema. It ends by checking that
// every operation was called and logging the documented statuses that no
// call produced.
func TestContractEveryOperationThroughTheGatewayMatchesTheSpec(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	mail := mailtest.NewServer(t)
	getenv := testEnv(t, map[string]string{
		"SMTP_HOST":  mail.Host,
		"SMTP_PORT":  strconv.Itoa(mail.Port),
		"SMTP_TLS":   "none",
		"PUBLIC_URL": "http://shop.test",
		// The profiles are served on the metrics listener only.
		"METRICS_ADDR":  "127.0.0.1:0",
		"PPROF_ENABLED": "true",
	})
	addrs, _ := startServe(t, getenv)
	spec := loadContract(t)
	gw := spec.edge(addrs["gateway"])
	w := buildWorld(t, gw, getenv, mail)

	for _, group := range contractCases(w) {
		t.Run(group.op, func(t *testing.T) {
			for _, tc := range group.cases {
				t.Run(tc.name, func(t *testing.T) { gw.send(t, group.op, tc) })
			}
		})
	}

	// Metrics are for operators, not clients: the gateway, which faces
	// clients, does not serve them, and the spec names the services' own
	// addresses.
	t.Run("getMetrics on the users service's own address", func(t *testing.T) {
		spec.edge(addrs["users"]).send(t, "getMetrics", contractCase{call: "GET /metrics", status: 200})
	})

	t.Run("the profiles on the metrics listener", func(t *testing.T) {
		ops := spec.edge(addrs["metrics"])
		ops.send(t, "getProfiles", contractCase{call: "GET /debug/pprof/", status: 200})
		ops.send(t, "getProfile", contractCase{call: "GET /debug/pprof/heap", status: 200})
		ops.send(t, "getProfile", contractCase{call: "GET /debug/pprof/no-such-profile", status: 404, code: "profile_not_found"})
	})

	// The webhook is only served with the Stripe gateway, which the
	// platform above does not use: a second platform has it.
	t.Run("paymentWebhook with the Stripe gateway", func(t *testing.T) {
		stripe := spec.edge(startStripePlatform(t))
		for _, tc := range webhookCases() {
			t.Run(tc.name, func(t *testing.T) { stripe.send(t, "paymentWebhook", tc) })
		}
	})

	spec.checkCoverage(t)
}

// contractCase is one request and the answer the spec promises for it.
type contractCase struct {
	name string
	as   httpxtest.Caller
	// call is the method and the path, query included: "GET /v1/cart".
	call string
	// header holds name, value pairs.
	header []string
	// body is nil (no body), a string (sent as is) or a value (sent as
	// JSON); a body is sent as application/json unless header says
	// otherwise.
	body   any
	status int
	// code is the problem code an error answer must carry.
	code string
	// offSpec: the request breaks a rule the spec states (a schema, a
	// format, a required header, body or token), so the spec must refuse
	// it as the service does. Rules the spec only states in words (a
	// breached password, a category that does not exist) are on-spec here.
	offSpec bool
}

// operationCases are the cases of one operation, run in order: later ones
// may rely on the state earlier ones left.
type operationCases struct {
	op    string // operationId
	cases []contractCase
}

// contract holds the spec, a router over it and what each operation has
// answered so far.
type contract struct {
	doc     *openapi3.T
	router  routers.Router
	options *openapi3filter.Options
	// answered holds, by operationId, the statuses that calls got.
	answered map[string]map[int]bool
}

// loadContract loads api/openapi.yaml as the binary embeds it.
func loadContract(t *testing.T) *contract {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load the spec: %v", err)
	}
	// The spec names the services' own addresses; every request here goes
	// to a gateway on a port of its own, so the router matches paths alone
	// (this router reads the document's servers only, not the paths').
	doc.Servers = nil
	router, err := legacy.NewRouter(doc) // it validates the document too
	if err != nil {
		t.Fatalf("route the spec: %v", err)
	}
	// kin-openapi decodes no HTML; the reference page is text to it.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	// kin-openapi checks only the formats it knows; these two are the
	// ones our ids and emails use.
	formats := map[string]openapi3.StringFormatValidator{
		"uuid":  openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562),
		"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
	}
	return &contract{doc: doc, router: router, answered: map[string]map[int]bool{}, options: &openapi3filter.Options{
		IncludeResponseStatus: true, // an undocumented status is an error
		MultiError:            true,
		SkipSettingDefaults:   true, // the body sent must be the body checked
		AuthenticationFunc:    bearerPresent,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidators(formats),
		},
	}}
}

// bearerPresent accepts any bearer token: whether a token is good is the
// services' business, and a bad one is a documented 401. A request without
// one breaks a bearerAuth requirement.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearerAuth" {
		return in.NewError(errors.New("unknown security scheme"))
	}
	token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return in.NewError(errors.New("no bearer token"))
	}
	return nil
}

// edge sends requests to one gateway and checks them against the spec.
type edge struct {
	*contract
	base string
}

func (c *contract) edge(addr string) edge { return edge{contract: c, base: "http://" + addr} }

// send sends tc through the gateway as a call of operation op, checks the
// request and the answer against the spec, and fails the test unless the
// answer has the status (and problem code) tc wants.
func (e edge) send(t *testing.T, op string, tc contractCase) httpxtest.Response {
	t.Helper()
	if tc.status >= 400 && tc.code == "" {
		t.Fatalf("%s: a case that wants an error must name its problem code", tc.call)
	}
	req := e.request(t, tc)
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: not in the spec: %v", tc.call, err)
	}
	if got := route.Operation.OperationID; got != op {
		t.Fatalf("%s is operation %s in the spec, not %s", tc.call, got, op)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: e.options}
	switch err := openapi3filter.ValidateRequest(context.Background(), in); {
	case tc.offSpec && err == nil:
		t.Errorf("%s: the spec accepts this request, which the case means to break it", tc.call)
	case !tc.offSpec && err != nil:
		t.Errorf("%s: the request breaks the spec: %v", tc.call, err)
	}
	if req.GetBody != nil {
		req.Body, _ = req.GetBody() // validation read it
	}
	res := roundTrip(t, req)
	e.record(op, res.Status)

	// kin-openapi skips some statuses (304 among them) altogether, so the
	// status is looked up here too; a `default` answer would not count.
	if route.Operation.Responses.Status(res.Status) == nil {
		t.Errorf("%s: %s does not document status %d; body %s", tc.call, op, res.Status, res.Body)
	} else if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(res.Body)), Options: e.options,
	}); err != nil {
		t.Errorf("%s: the %d answer breaks the spec: %v\nbody %s", tc.call, res.Status, err, res.Body)
	}
	if res.Status != tc.status {
		t.Fatalf("%s: status %d, want %d; body %s", tc.call, res.Status, tc.status, res.Body)
	}
	if tc.code != "" && res.Problem() != tc.code {
		t.Errorf("%s: problem code %q, want %q; body %s", tc.call, res.Problem(), tc.code, res.Body)
	}
	return res
}

// request builds the HTTP request of tc.
func (e edge) request(t *testing.T, tc contractCase) *http.Request {
	t.Helper()
	method, target, ok := strings.Cut(tc.call, " ")
	if !ok {
		t.Fatalf("call %q is not \"METHOD /path\"", tc.call)
	}
	var body io.Reader
	switch b := tc.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+target, body)
	if err != nil {
		t.Fatal(err)
	}
	if tc.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tc.as.Token != "" {
		req.Header.Set("Authorization", "Bearer "+tc.as.Token)
	}
	for i := 0; i+1 < len(tc.header); i += 2 {
		req.Header.Set(tc.header[i], tc.header[i+1])
	}
	return req
}

func roundTrip(t *testing.T, req *http.Request) httpxtest.Response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", req.Method, req.URL.Path, err)
	}
	return httpxtest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (c *contract) record(op string, status int) {
	if c.answered[op] == nil {
		c.answered[op] = map[int]bool{}
	}
	c.answered[op][status] = true
}

// checkCoverage fails for every operation never called, and for every one
// that documents client errors but never produced one; it logs the
// documented statuses that nothing produced.
func (c *contract) checkCoverage(t *testing.T) {
	t.Helper()
	ops, called, statuses, produced := 0, 0, 0, 0
	for _, path := range slices.Sorted(maps.Keys(c.doc.Paths.Map())) {
		operations := c.doc.Paths.Value(path).Operations()
		for _, method := range slices.Sorted(maps.Keys(operations)) {
			op := operations[method]
			ops++
			got := c.answered[op.OperationID]
			if len(got) == 0 {
				t.Errorf("%s %s (%s) was never called", method, path, op.OperationID)
				continue
			}
			called++
			var missing []string
			documents4xx, produced4xx := false, false
			for _, code := range slices.Sorted(maps.Keys(op.Responses.Map())) {
				status, _ := strconv.Atoi(code)
				statuses++
				is4xx := status >= 400 && status < 500
				documents4xx = documents4xx || is4xx
				if got[status] {
					produced++
					produced4xx = produced4xx || is4xx
				} else {
					missing = append(missing, code)
				}
			}
			if documents4xx && !produced4xx {
				t.Errorf("%s (%s %s) documents client errors, but no call produced one", op.OperationID, method, path)
			}
			if len(missing) > 0 {
				t.Logf("%s %s (%s): documented, never produced: %s", method, path, op.OperationID, strings.Join(missing, ", "))
			}
		}
	}
	t.Logf("%d of %d operations called; %d of their %d documented statuses produced", called, ops, produced, statuses)
}

// ----- the world the cases act on -----

const contractPassword = "plum-kettle-orbit-42"

// world is what the cases need to exist: accounts in every role, a
// category tree, products in every state, stock and orders. It is built
// through the gateway with the same checks as the cases.
type world struct {
	admin, seller, rival, buyer httpxtest.Caller
	// leaver signs out everywhere, changer changes password, victim is
	// disabled and enabled again, banned stays disabled, throttled has
	// failed too many logins.
	leaver, changer, victim, banned, throttled httpxtest.Caller
	buyerRefresh, resetToken                   string

	// lamp (EUR, stocked), usdLamp (USD), draft, toArchive and archived are
	// the seller's; rivalLamp is the rival seller's.
	lamp, usdLamp, draft, toArchive, archived, rivalLamp string
	// Orders of the buyer for one lamp each, all unpaid.
	toPay, toDecline, toCancel placedOrder
}

type placedOrder struct{ id, subOrder string }

func buildWorld(t *testing.T, e edge, getenv func(string) (string, bool), mail *mailtest.Server) *world {
	t.Helper()
	w := &world{}
	w.signUpEveryone(t, e, getenv, mail)
	w.stockTheCatalog(t, e)
	w.toPay = e.checkOut(t, w.buyer, w.lamp)
	w.toDecline = e.checkOut(t, w.buyer, w.lamp)
	w.toCancel = e.checkOut(t, w.buyer, w.lamp)
	return w
}

// signUpEveryone makes the accounts: an admin (by the grant-role command,
// as the first admin is made), two sellers with their shops, and buyers.
func (w *world) signUpEveryone(t *testing.T, e edge, getenv func(string) (string, bool), mail *mailtest.Server) {
	t.Helper()
	var adminRefresh, sellerRefresh, rivalRefresh string
	w.admin, adminRefresh = e.signUp(t, "admin@example.com")
	if err := run(context.Background(), []string{"grant-role", "--email=admin@example.com", "--role=admin"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	w.admin.Token = e.refresh(t, adminRefresh)
	w.seller, sellerRefresh = e.signUp(t, "seller@example.com")
	e.openShop(t, w.seller, "Lamplighters")
	w.seller.Token = e.refresh(t, sellerRefresh)
	w.rival, rivalRefresh = e.signUp(t, "rival@example.com")
	e.openShop(t, w.rival, "Rival Lights")
	w.rival.Token = e.refresh(t, rivalRefresh)
	w.buyer, w.buyerRefresh = e.signUp(t, "buyer@example.com")
	w.leaver, _ = e.signUp(t, "leaver@example.com")
	w.changer, _ = e.signUp(t, "changer@example.com")
	w.victim, _ = e.signUp(t, "victim@example.com")
	w.banned, _ = e.signUp(t, "banned@example.com")
	e.must(t, "disableUser", w.admin, "POST /v1/admin/users/"+w.banned.ID+"/disable", nil, http.StatusOK)
	w.throttled, _ = e.signUp(t, "throttled@example.com")
	for range 5 {
		e.send(t, "login", contractCase{call: "POST /v1/auth/login", body: map[string]any{"email": "throttled@example.com", "password": "not-the-password"},
			status: http.StatusUnauthorized, code: "invalid_credentials"})
	}
	w.resetToken = e.resetToken(t, mail, "resetter@example.com")
}

// stockTheCatalog makes the category tree lighting > lamps, the sellers'
// products, and stock of the lamp.
func (w *world) stockTheCatalog(t *testing.T, e edge) {
	t.Helper()
	e.must(t, "putCategory", w.admin, "PUT /v1/categories/lighting", map[string]any{"name": "Lighting", "facets": []string{"brand"}}, http.StatusCreated)
	e.must(t, "putCategory", w.admin, "PUT /v1/categories/lamps",
		map[string]any{"name": "Lamps", "parent": "lighting", "facets": []string{"colour", "dimmable"}}, http.StatusCreated)
	w.lamp = e.listProduct(t, w.seller, "Brass Desk Lamp", "EUR", "active")
	w.usdLamp = e.listProduct(t, w.seller, "Copper Floor Lamp", "USD", "active")
	w.draft = e.listProduct(t, w.seller, "Unfinished Lamp", "EUR", "draft")
	w.toArchive = e.listProduct(t, w.seller, "Old Lamp", "EUR", "active")
	w.archived = e.listProduct(t, w.seller, "Retired Lamp", "EUR", "active")
	e.must(t, "archiveProduct", w.seller, "POST /v1/products/"+w.archived+"/archive", nil, http.StatusOK, "If-Match", `"1"`)
	w.rivalLamp = e.listProduct(t, w.rival, "Rival Lamp", "EUR", "active")
	e.must(t, "putStock", w.seller, "PUT /v1/stock/"+w.lamp, map[string]any{"on_hand": 10}, http.StatusOK)
}

// must sends one request of the world's making, which must be answered
// with status.
func (e edge) must(t *testing.T, op string, as httpxtest.Caller, call string, body any, status int, header ...string) httpxtest.Response {
	t.Helper()
	return e.send(t, op, contractCase{as: as, call: call, body: body, header: header, status: status})
}

// signUp registers an account and signs it in; it returns the caller and
// the session's refresh token.
func (e edge) signUp(t *testing.T, email string) (httpxtest.Caller, string) {
	t.Helper()
	var user struct {
		ID string `json:"id"`
	}
	name, _, _ := strings.Cut(email, "@")
	e.must(t, "register", httpxtest.Anonymous, "POST /v1/auth/register",
		map[string]any{"email": email, "password": contractPassword, "display_name": name}, http.StatusCreated).Decode(t, &user)
	var tok tokens
	e.must(t, "login", httpxtest.Anonymous, "POST /v1/auth/login",
		map[string]any{"email": email, "password": contractPassword}, http.StatusOK).Decode(t, &tok)
	return httpxtest.Caller{ID: user.ID, Token: tok.AccessToken}, tok.RefreshToken
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// refresh spends a refresh token for an access token with the account's
// current roles.
func (e edge) refresh(t *testing.T, refreshToken string) string {
	t.Helper()
	var tok tokens
	e.must(t, "refreshTokens", httpxtest.Anonymous, "POST /v1/auth/refresh",
		map[string]any{"refresh_token": refreshToken}, http.StatusOK).Decode(t, &tok)
	return tok.AccessToken
}

func (e edge) openShop(t *testing.T, as httpxtest.Caller, name string) {
	t.Helper()
	e.must(t, "becomeSeller", as, "POST /v1/users/me/seller", map[string]any{"shop_name": name}, http.StatusCreated)
}

var resetLink = regexp.MustCompile(`http://shop\.test/reset-password\?token=([A-Za-z0-9_-]+)`)

// resetToken registers an account, asks for a reset link and returns the
// token of the link mailed.
func (e edge) resetToken(t *testing.T, mail *mailtest.Server, email string) string {
	t.Helper()
	e.signUp(t, email)
	e.must(t, "requestPasswordReset", httpxtest.Anonymous, "POST /v1/auth/password-reset", map[string]any{"email": email}, http.StatusAccepted)
	m := resetLink.FindStringSubmatch(mail.WaitFor(t, email).Data)
	if m == nil {
		t.Fatalf("no reset link in the mail to %s", email)
	}
	return m[1]
}

// listProduct creates a product in the category lamps and returns its id.
func (e edge) listProduct(t *testing.T, seller httpxtest.Caller, title, currency, status string) string {
	t.Helper()
	var p struct {
		ID string `json:"id"`
	}
	e.must(t, "createProduct", seller, "POST /v1/products", map[string]any{
		"title": title, "description": "A lamp for the contract test.", "category": "lamps",
		"price":      map[string]any{"amount": 4500, "currency": currency},
		"images":     []string{"https://img.example.com/lamp.jpg"},
		"attributes": map[string]any{"colour": "red", "dimmable": true, "wattage": 9},
		"status":     status,
	}, http.StatusCreated).Decode(t, &p)
	return p.ID
}

// checkOut orders one unit of product and returns the order and its one
// sub-order.
func (e edge) checkOut(t *testing.T, buyer httpxtest.Caller, product string) placedOrder {
	t.Helper()
	var o struct {
		ID        string `json:"id"`
		SubOrders []struct {
			ID string `json:"id"`
		} `json:"sub_orders"`
	}
	e.must(t, "checkout", buyer, "POST /v1/orders", orderOf(orderLine(product, 1)),
		http.StatusCreated).Decode(t, &o)
	if len(o.SubOrders) != 1 {
		t.Fatalf("an order of one seller's product has %d sub-orders", len(o.SubOrders))
	}
	return placedOrder{id: o.ID, subOrder: o.SubOrders[0].ID}
}

// ----- the cases -----

// contractCases are the cases of every operation, in an order that tells a
// story: accounts, catalog, cart, orders, fulfilment, stock, operations.
func contractCases(w *world) []operationCases {
	garbage := httpxtest.Caller{Token: "not-a-jwt"}
	unknownID := uuid.Must(uuid.NewV7()).String()
	password := contractPassword
	newPassword := "quartz-lantern-meadow-77"
	item := func(id string, qty int) map[string]any { return map[string]any{"product_id": id, "quantity": qty} }
	orderPath := func(o placedOrder) string { return "/v1/orders/" + o.id }
	subPath := func(o placedOrder) string { return "/v1/sub-orders/" + o.subOrder }

	return []operationCases{
		{"register", []contractCase{
			{name: "a new buyer gets an account", call: "POST /v1/auth/register",
				body: map[string]any{"email": "Newcomer@Example.com", "password": password, "display_name": "Newcomer"}, status: 201},
			{name: "an email registered already in another letter case is refused", call: "POST /v1/auth/register",
				body: map[string]any{"email": "BUYER@example.com", "password": password, "display_name": "Again"}, status: 409, code: "email_taken"},
			{name: "a bad email and a short password are refused together", call: "POST /v1/auth/register",
				body: map[string]any{"email": "not-an-email", "password": "short", "display_name": "X"}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a well-known breached password is refused", call: "POST /v1/auth/register",
				body: map[string]any{"email": "weak@example.com", "password": "password1234", "display_name": "Weak"}, status: 400, code: "validation_failed"},
			{name: "a role sent as a member is refused", call: "POST /v1/auth/register",
				body:   map[string]any{"email": "sneaky@example.com", "password": password, "display_name": "S", "roles": []string{"admin"}},
				status: 400, code: "validation_failed", offSpec: true},
			{name: "broken JSON is refused", call: "POST /v1/auth/register", body: `{"email":`, status: 400, code: "malformed_json", offSpec: true},
			{name: "a form instead of JSON is refused", call: "POST /v1/auth/register", body: "email=a@example.com",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a body over 16 KiB is refused", call: "POST /v1/auth/register",
				body:   map[string]any{"email": "big@example.com", "password": password, "display_name": strings.Repeat("x", 17<<10)},
				status: 413, code: "body_too_large", offSpec: true},
		}},
		{"login", []contractCase{
			{name: "the right password signs in", call: "POST /v1/auth/login",
				body: map[string]any{"email": "buyer@example.com", "password": password}, status: 200},
			{name: "a stale token does not stop a login", as: garbage, call: "POST /v1/auth/login",
				body: map[string]any{"email": "buyer@example.com", "password": password}, status: 200},
			{name: "an unknown email is refused like a wrong password", call: "POST /v1/auth/login",
				body: map[string]any{"email": "nobody@example.com", "password": password}, status: 401, code: "invalid_credentials"},
			{name: "a disabled account is refused after the right password", call: "POST /v1/auth/login",
				body: map[string]any{"email": "banned@example.com", "password": password}, status: 403, code: "account_disabled"},
			{name: "an account with five failed logins is refused even with the right password", call: "POST /v1/auth/login",
				body: map[string]any{"email": "throttled@example.com", "password": password}, status: 429, code: "too_many_login_attempts"},
			{name: "an unknown member is refused", call: "POST /v1/auth/login",
				body: map[string]any{"email": "buyer@example.com", "password": password, "remember": true}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", call: "POST /v1/auth/login", body: "email=buyer@example.com",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
		}},
		{"refreshTokens", []contractCase{
			{name: "a refresh token buys a new pair", call: "POST /v1/auth/refresh", body: map[string]any{"refresh_token": w.buyerRefresh}, status: 200},
			{name: "a refresh token spent already is refused", call: "POST /v1/auth/refresh",
				body: map[string]any{"refresh_token": w.buyerRefresh}, status: 401, code: "invalid_refresh_token"},
			{name: "a refresh token of the wrong JSON type is refused", call: "POST /v1/auth/refresh",
				body: map[string]any{"refresh_token": 42}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", call: "POST /v1/auth/refresh", body: "refresh_token=x",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
		}},
		{"logout", []contractCase{
			{name: "an unknown refresh token is ignored", call: "POST /v1/auth/logout", body: map[string]any{"refresh_token": "never-issued"}, status: 204},
			{name: "an unknown member is refused", call: "POST /v1/auth/logout",
				body: map[string]any{"refresh_token": "x", "everywhere": true}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", call: "POST /v1/auth/logout", body: "refresh_token=x",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
		}},
		{"logoutAll", []contractCase{
			{name: "the caller signs out of every session", as: w.leaver, call: "POST /v1/auth/logout-all", status: 204},
			{name: "a disabled account is refused", as: w.banned, call: "POST /v1/auth/logout-all", status: 403, code: "account_disabled"},
			{name: "a call without a token is refused", call: "POST /v1/auth/logout-all", status: 401, code: "missing_token", offSpec: true},
		}},
		{"requestPasswordReset", []contractCase{
			{name: "an unregistered email gets the same answer", call: "POST /v1/auth/password-reset",
				body: map[string]any{"email": "stranger@example.com"}, status: 202},
			{name: "an email of the wrong JSON type is refused", call: "POST /v1/auth/password-reset",
				body: map[string]any{"email": 7}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", call: "POST /v1/auth/password-reset", body: "email=a@example.com",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
		}},
		{"confirmPasswordReset", []contractCase{
			{name: "a token never issued is refused", call: "POST /v1/auth/password-reset/confirm",
				body: map[string]any{"token": "never-issued", "new_password": newPassword}, status: 400, code: "invalid_reset_token"},
			{name: "the mailed token sets a new password", call: "POST /v1/auth/password-reset/confirm",
				body: map[string]any{"token": w.resetToken, "new_password": newPassword}, status: 204},
			{name: "the mailed token cannot be used twice", call: "POST /v1/auth/password-reset/confirm",
				body: map[string]any{"token": w.resetToken, "new_password": newPassword}, status: 400, code: "invalid_reset_token"},
			{name: "a request without the new password is refused", call: "POST /v1/auth/password-reset/confirm",
				body: map[string]any{"token": w.resetToken}, status: 400, code: "invalid_reset_token", offSpec: true},
			{name: "a form instead of JSON is refused", call: "POST /v1/auth/password-reset/confirm", body: "token=x",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
		}},
		{"getMe", []contractCase{
			{name: "the caller reads their account", as: w.buyer, call: "GET /v1/users/me", status: 200},
			{name: "a disabled account is refused", as: w.banned, call: "GET /v1/users/me", status: 403, code: "account_disabled"},
			{name: "a token that is not a JWT is refused", as: garbage, call: "GET /v1/users/me", status: 401, code: "invalid_token"},
			{name: "a call without a token is refused", call: "GET /v1/users/me", status: 401, code: "missing_token", offSpec: true},
		}},
		{"updateMe", []contractCase{
			{name: "a phone, an address and preferences are set", as: w.buyer, call: "PATCH /v1/users/me", body: map[string]any{
				"phone":            "+14155550123",
				"shipping_address": map[string]any{"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"},
				"preferences":      map[string]any{"newsletter": false},
			}, status: 200},
			{name: "a phone and a country in the wrong form are refused together", as: w.buyer, call: "PATCH /v1/users/me", body: map[string]any{
				"phone":            "0155 5555",
				"shipping_address": map[string]any{"name": "Ada", "line1": "1 Road", "city": "London", "postal_code": "N1", "country": "gb"},
			}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a disabled account is refused", as: w.banned, call: "PATCH /v1/users/me", body: map[string]any{"display_name": "Back"},
				status: 403, code: "account_disabled"},
			{name: "a form instead of JSON is refused", as: w.buyer, call: "PATCH /v1/users/me", body: "display_name=Ada",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a body over 16 KiB is refused", as: w.buyer, call: "PATCH /v1/users/me",
				body: map[string]any{"preferences": map[string]any{"notes": strings.Repeat("n", 17<<10)}}, status: 413, code: "body_too_large"},
			{name: "a call without a token is refused", call: "PATCH /v1/users/me", body: map[string]any{"display_name": "Anon"},
				status: 401, code: "missing_token", offSpec: true},
		}},
		{"changePassword", []contractCase{
			{name: "the current password and a good new one change it", as: w.changer, call: "POST /v1/users/me/password",
				body: map[string]any{"current_password": password, "new_password": newPassword}, status: 204},
			{name: "a wrong current password is refused", as: w.changer, call: "POST /v1/users/me/password",
				body: map[string]any{"current_password": password, "new_password": newPassword}, status: 403, code: "wrong_password"},
			{name: "a new password that is too short is refused", as: w.changer, call: "POST /v1/users/me/password",
				body: map[string]any{"current_password": newPassword, "new_password": "short"}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.changer, call: "POST /v1/users/me/password", body: "current_password=x",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "an account with too many failures is refused before the passwords are read", as: w.throttled, call: "POST /v1/users/me/password",
				body: map[string]any{"current_password": password, "new_password": newPassword}, status: 429, code: "too_many_login_attempts"},
			{name: "a call without a token is refused", call: "POST /v1/users/me/password",
				body: map[string]any{"current_password": password, "new_password": newPassword}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"becomeSeller", []contractCase{
			{name: "a buyer opens a shop", as: w.changer, call: "POST /v1/users/me/seller", body: map[string]any{"shop_name": "Changer's Corner"}, status: 201},
			{name: "a second shop for the same account is refused", as: w.seller, call: "POST /v1/users/me/seller",
				body: map[string]any{"shop_name": "Another Shop"}, status: 409, code: "already_seller"},
			{name: "a shop name taken in another letter case is refused", as: w.buyer, call: "POST /v1/users/me/seller",
				body: map[string]any{"shop_name": "LAMPLIGHTERS"}, status: 409, code: "shop_name_taken"},
			{name: "a disabled account is refused", as: w.banned, call: "POST /v1/users/me/seller",
				body: map[string]any{"shop_name": "Banned Goods"}, status: 403, code: "account_disabled"},
			{name: "a form instead of JSON is refused", as: w.buyer, call: "POST /v1/users/me/seller", body: "shop_name=Mine",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "an empty shop name is refused", as: w.buyer, call: "POST /v1/users/me/seller",
				body: map[string]any{"shop_name": ""}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a call without a token is refused", call: "POST /v1/users/me/seller",
				body: map[string]any{"shop_name": "Nobody's"}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"renameShop", []contractCase{
			{name: "a seller renames their shop, in other letters", as: w.rival, call: "PUT /v1/users/me/shop", body: map[string]any{"shop_name": "RIVAL lights"}, status: 200},
			{name: "another shop's name is refused", as: w.rival, call: "PUT /v1/users/me/shop",
				body: map[string]any{"shop_name": "lamplighters"}, status: 409, code: "shop_name_taken"},
			{name: "an account without a shop has none to rename", as: w.buyer, call: "PUT /v1/users/me/shop",
				body: map[string]any{"shop_name": "Buyer's Bazaar"}, status: 404, code: "shop_not_found"},
			{name: "a disabled account is refused", as: w.banned, call: "PUT /v1/users/me/shop",
				body: map[string]any{"shop_name": "Banned Goods"}, status: 403, code: "account_disabled"},
			{name: "a form instead of JSON is refused", as: w.rival, call: "PUT /v1/users/me/shop", body: "shop_name=Mine",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "an empty shop name is refused", as: w.rival, call: "PUT /v1/users/me/shop",
				body: map[string]any{"shop_name": ""}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a call without a token is refused", call: "PUT /v1/users/me/shop",
				body: map[string]any{"shop_name": "Nobody's"}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"getShop", []contractCase{
			{name: "anyone reads a seller's shop name", call: "GET /v1/users/" + w.seller.ID + "/shop", status: 200},
			{name: "a buyer reads it too", as: w.buyer, call: "GET /v1/users/" + w.rival.ID + "/shop", status: 200},
			{name: "an account without a shop has none", call: "GET /v1/users/" + w.buyer.ID + "/shop", status: 404, code: "shop_not_found"},
			{name: "an id that is no UUID has none", call: "GET /v1/users/not-a-uuid/shop", status: 404, code: "shop_not_found", offSpec: true},
		}},
		{"listUsers", []contractCase{
			{name: "an admin lists the accounts", as: w.admin, call: "GET /v1/admin/users", status: 200},
			{name: "an admin lists a page of two", as: w.admin, call: "GET /v1/admin/users?limit=2", status: 200},
			{name: "a cursor this API never returned is refused", as: w.admin, call: "GET /v1/admin/users?cursor=bogus", status: 400, code: "invalid_cursor"},
			{name: "a page size of zero is refused", as: w.admin, call: "GET /v1/admin/users?limit=0", status: 400, code: "validation_failed", offSpec: true},
			{name: "a buyer is refused", as: w.buyer, call: "GET /v1/admin/users", status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "GET /v1/admin/users", status: 401, code: "missing_token", offSpec: true},
		}},
		{"getUser", []contractCase{
			{name: "an admin reads an account", as: w.admin, call: "GET /v1/admin/users/" + w.buyer.ID, status: 200},
			{name: "an id that names no account is not found", as: w.admin, call: "GET /v1/admin/users/" + unknownID, status: 404, code: "user_not_found"},
			{name: "an id that is not a UUID is not found", as: w.admin, call: "GET /v1/admin/users/42", status: 404, code: "user_not_found", offSpec: true},
			{name: "a buyer is refused", as: w.buyer, call: "GET /v1/admin/users/" + w.buyer.ID, status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "GET /v1/admin/users/" + w.buyer.ID, status: 401, code: "missing_token", offSpec: true},
		}},
		{"grantRole", []contractCase{
			{name: "an admin grants the seller role", as: w.admin, call: "PUT /v1/admin/users/" + w.victim.ID + "/roles/seller", status: 200},
			{name: "granting a role held already changes nothing", as: w.admin, call: "PUT /v1/admin/users/" + w.victim.ID + "/roles/seller", status: 200},
			{name: "a role that does not exist is refused", as: w.admin, call: "PUT /v1/admin/users/" + w.victim.ID + "/roles/owner",
				status: 400, code: "validation_failed", offSpec: true},
			{name: "an id that names no account is not found", as: w.admin, call: "PUT /v1/admin/users/" + unknownID + "/roles/seller", status: 404, code: "user_not_found"},
			{name: "a seller is refused", as: w.seller, call: "PUT /v1/admin/users/" + w.seller.ID + "/roles/admin", status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "PUT /v1/admin/users/" + w.victim.ID + "/roles/admin", status: 401, code: "missing_token", offSpec: true},
		}},
		{"revokeRole", []contractCase{
			{name: "an admin revokes the seller role", as: w.admin, call: "DELETE /v1/admin/users/" + w.victim.ID + "/roles/seller", status: 200},
			{name: "an admin cannot revoke their own admin role", as: w.admin, call: "DELETE /v1/admin/users/" + w.admin.ID + "/roles/admin",
				status: 409, code: "last_admin_guard"},
			{name: "a role that does not exist is refused", as: w.admin, call: "DELETE /v1/admin/users/" + w.victim.ID + "/roles/owner",
				status: 400, code: "validation_failed", offSpec: true},
			{name: "an id that names no account is not found", as: w.admin, call: "DELETE /v1/admin/users/" + unknownID + "/roles/seller", status: 404, code: "user_not_found"},
			{name: "a seller is refused", as: w.seller, call: "DELETE /v1/admin/users/" + w.admin.ID + "/roles/admin", status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "DELETE /v1/admin/users/" + w.victim.ID + "/roles/buyer", status: 401, code: "missing_token", offSpec: true},
		}},
		{"disableUser", []contractCase{
			{name: "an admin disables an account", as: w.admin, call: "POST /v1/admin/users/" + w.victim.ID + "/disable", status: 200},
			{name: "an admin cannot disable their own account", as: w.admin, call: "POST /v1/admin/users/" + w.admin.ID + "/disable", status: 409, code: "self_disable"},
			{name: "an id that names no account is not found", as: w.admin, call: "POST /v1/admin/users/" + unknownID + "/disable", status: 404, code: "user_not_found"},
			{name: "a buyer is refused", as: w.buyer, call: "POST /v1/admin/users/" + w.victim.ID + "/disable", status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "POST /v1/admin/users/" + w.victim.ID + "/disable", status: 401, code: "missing_token", offSpec: true},
		}},
		{"enableUser", []contractCase{
			{name: "an admin enables a disabled account", as: w.admin, call: "POST /v1/admin/users/" + w.victim.ID + "/enable", status: 200},
			{name: "an id that names no account is not found", as: w.admin, call: "POST /v1/admin/users/" + unknownID + "/enable", status: 404, code: "user_not_found"},
			{name: "a buyer is refused", as: w.buyer, call: "POST /v1/admin/users/" + w.victim.ID + "/enable", status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "POST /v1/admin/users/" + w.victim.ID + "/enable", status: 401, code: "missing_token", offSpec: true},
		}},

		{"listCategories", []contractCase{
			{name: "anyone reads the tree", call: "GET /v1/categories", status: 200},
			{name: "an Authorization header is ignored here", as: garbage, call: "GET /v1/categories", status: 200},
		}},
		{"putCategory", []contractCase{
			{name: "an admin creates a sub-category", as: w.admin, call: "PUT /v1/categories/desk-lamps",
				body: map[string]any{"name": "Desk lamps", "parent": "lamps", "facets": []string{"wattage"}}, status: 201},
			{name: "an admin replaces a category", as: w.admin, call: "PUT /v1/categories/lamps",
				body: map[string]any{"name": "Lamps", "parent": "lighting", "facets": []string{"colour", "dimmable", "wattage"}}, status: 200},
			{name: "a parent below the category is refused", as: w.admin, call: "PUT /v1/categories/lighting",
				body: map[string]any{"name": "Lighting", "parent": "desk-lamps"}, status: 409, code: "category_cycle"},
			{name: "an unknown parent is refused", as: w.admin, call: "PUT /v1/categories/candles",
				body: map[string]any{"name": "Candles", "parent": "nowhere"}, status: 400, code: "validation_failed"},
			{name: "an id that is not a slug is refused", as: w.admin, call: "PUT /v1/categories/Desk_Lamps",
				body: map[string]any{"name": "Desk lamps"}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.admin, call: "PUT /v1/categories/candles", body: "name=Candles",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a seller is refused", as: w.seller, call: "PUT /v1/categories/candles",
				body: map[string]any{"name": "Candles"}, status: 403, code: "admin_only"},
			{name: "a call without a token is refused", call: "PUT /v1/categories/candles",
				body: map[string]any{"name": "Candles"}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"listProducts", []contractCase{
			{name: "anyone browses the active products", call: "GET /v1/products", status: 200},
			{name: "a category, a price range, a sort and a page size narrow the list", call: "GET /v1/products?category=lamps&min_price=1000&max_price=10000&sort=price_asc&limit=1", status: 200},
			{name: "title words and attribute filters narrow the list", call: "GET /v1/products?category=lamps&q=brass+lamp&attr.colour=red&attr.wattage.max=40", status: 200},
			{name: "a seller naming themselves sees their drafts too", as: w.seller, call: "GET /v1/products?seller=" + w.seller.ID, status: 200},
			{name: "an unknown category is refused", call: "GET /v1/products?category=nowhere", status: 400, code: "validation_failed"},
			{name: "an unknown parameter is refused", call: "GET /v1/products?colour=red", status: 400, code: "validation_failed", offSpec: true},
			{name: "a cursor this listing never returned is refused", call: "GET /v1/products?cursor=bogus", status: 400, code: "invalid_cursor"},
			{name: "a page size of zero is refused", call: "GET /v1/products?limit=0", status: 400, code: "validation_failed", offSpec: true},
			{name: "a token that is not a JWT is refused", as: garbage, call: "GET /v1/products", status: 401, code: "invalid_token"},
		}},
		{"createProduct", []contractCase{
			{name: "a seller lists a product", as: w.seller, call: "POST /v1/products", body: map[string]any{
				"title": "Green Banker's Lamp", "category": "desk-lamps", "price": map[string]any{"amount": 7900, "currency": "EUR"},
				"attributes": map[string]any{"colour": "green", "wattage": 40}, "status": "active",
			}, status: 201},
			{name: "a buyer is refused", as: w.buyer, call: "POST /v1/products", body: map[string]any{
				"title": "Fake Lamp", "category": "lamps", "price": map[string]any{"amount": 100, "currency": "EUR"},
			}, status: 403, code: "seller_only"},
			{name: "a product without a price is refused", as: w.seller, call: "POST /v1/products",
				body: map[string]any{"title": "Priceless Lamp", "category": "lamps"}, status: 400, code: "validation_failed", offSpec: true},
			{name: "an unknown category is refused", as: w.seller, call: "POST /v1/products", body: map[string]any{
				"title": "Lost Lamp", "category": "nowhere", "price": map[string]any{"amount": 100, "currency": "EUR"},
			}, status: 400, code: "validation_failed"},
			{name: "a form instead of JSON is refused", as: w.seller, call: "POST /v1/products", body: "title=Lamp",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a body over 64 KiB is refused", as: w.seller, call: "POST /v1/products", body: map[string]any{
				"title": "Wordy Lamp", "category": "lamps", "price": map[string]any{"amount": 100, "currency": "EUR"},
				"description": strings.Repeat("x", 65<<10),
			}, status: 413, code: "body_too_large", offSpec: true},
			{name: "a call without a token is refused", call: "POST /v1/products", body: map[string]any{
				"title": "Anonymous Lamp", "category": "lamps", "price": map[string]any{"amount": 100, "currency": "EUR"},
			}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"suggestProducts", []contractCase{
			{name: "anyone completes what they type", call: "GET /v1/search/suggest?q=brass+de", status: 200},
			{name: "a limit narrows the suggestions", call: "GET /v1/search/suggest?q=lamp&limit=1", status: 200},
			{name: "no text is refused", call: "GET /v1/search/suggest", status: 400, code: "validation_failed", offSpec: true},
			{name: "too many suggestions are refused", call: "GET /v1/search/suggest?q=lamp&limit=21", status: 400, code: "validation_failed", offSpec: true},
		}},
		{"getProduct", []contractCase{
			{name: "anyone reads an active product", call: "GET /v1/products/" + w.lamp, status: 200},
			{name: "the current ETag as If-None-Match answers not modified", call: "GET /v1/products/" + w.lamp,
				header: []string{"If-None-Match", `"1"`}, status: 304},
			{name: "its seller reads a draft", as: w.seller, call: "GET /v1/products/" + w.draft, status: 200},
			{name: "a draft does not exist for anyone else", as: w.buyer, call: "GET /v1/products/" + w.draft, status: 404, code: "product_not_found"},
			{name: "an id that names no product is not found", call: "GET /v1/products/" + unknownID, status: 404, code: "product_not_found"},
			{name: "a token that is not a JWT is refused", as: garbage, call: "GET /v1/products/" + w.lamp, status: 401, code: "invalid_token"},
		}},
		{"updateProduct", []contractCase{
			{name: "its seller changes the price of the version read", as: w.seller, call: "PATCH /v1/products/" + w.lamp,
				header: []string{"If-Match", `"1"`}, body: map[string]any{"price": map[string]any{"amount": 3900, "currency": "EUR"}}, status: 200},
			{name: "a change based on an old version is refused", as: w.seller, call: "PATCH /v1/products/" + w.lamp,
				header: []string{"If-Match", `"1"`}, body: map[string]any{"title": "Stale Lamp"}, status: 412, code: "stale_version"},
			{name: "a change without If-Match is refused", as: w.seller, call: "PATCH /v1/products/" + w.lamp,
				body: map[string]any{"title": "Blind Lamp"}, status: 428, code: "if_match_required", offSpec: true},
			{name: "a weak ETag is refused", as: w.seller, call: "PATCH /v1/products/" + w.lamp,
				header: []string{"If-Match", `W/"2"`}, body: map[string]any{"title": "Weak Lamp"}, status: 400, code: "invalid_if_match", offSpec: true},
			{name: "a title over 200 characters is refused", as: w.seller, call: "PATCH /v1/products/" + w.lamp,
				header: []string{"If-Match", `"2"`}, body: map[string]any{"title": strings.Repeat("t", 201)}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.seller, call: "PATCH /v1/products/" + w.lamp, body: "title=Lamp",
				header: []string{"If-Match", `"2"`, "Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "another seller's product does not exist for them", as: w.rival, call: "PATCH /v1/products/" + w.lamp,
				header: []string{"If-Match", `"2"`}, body: map[string]any{"title": "Stolen Lamp"}, status: 404, code: "product_not_found"},
			{name: "an archived product cannot be changed", as: w.seller, call: "PATCH /v1/products/" + w.archived,
				header: []string{"If-Match", `"2"`}, body: map[string]any{"title": "Revived Lamp"}, status: 409, code: "product_archived"},
			{name: "a call without a token is refused", call: "PATCH /v1/products/" + w.lamp,
				header: []string{"If-Match", `"2"`}, body: map[string]any{"title": "Anonymous Lamp"}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"archiveProduct", []contractCase{
			{name: "its seller archives the version read", as: w.seller, call: "POST /v1/products/" + w.toArchive + "/archive",
				header: []string{"If-Match", `"1"`}, status: 200},
			{name: "archiving based on an old version is refused", as: w.seller, call: "POST /v1/products/" + w.toArchive + "/archive",
				header: []string{"If-Match", `"1"`}, status: 412, code: "stale_version"},
			{name: "archiving twice is refused", as: w.seller, call: "POST /v1/products/" + w.toArchive + "/archive",
				header: []string{"If-Match", `"2"`}, status: 409, code: "product_archived"},
			{name: "archiving without If-Match is refused", as: w.seller, call: "POST /v1/products/" + w.lamp + "/archive",
				status: 428, code: "if_match_required", offSpec: true},
			{name: "a list of ETags is refused", as: w.seller, call: "POST /v1/products/" + w.lamp + "/archive",
				header: []string{"If-Match", `"1", "2"`}, status: 400, code: "invalid_if_match", offSpec: true},
			{name: "another seller's product does not exist for them", as: w.rival, call: "POST /v1/products/" + w.lamp + "/archive",
				header: []string{"If-Match", `"2"`}, status: 404, code: "product_not_found"},
			{name: "a call without a token is refused", call: "POST /v1/products/" + w.lamp + "/archive",
				header: []string{"If-Match", `"2"`}, status: 401, code: "missing_token", offSpec: true},
		}},

		{"putCartItem", []contractCase{
			{name: "the buyer puts two lamps in the cart", as: w.buyer, call: "PUT /v1/cart/items/" + w.lamp, body: map[string]any{"quantity": 2}, status: 200},
			{name: "the seller puts a lamp in their own cart", as: w.seller, call: "PUT /v1/cart/items/" + w.rivalLamp, body: map[string]any{"quantity": 1}, status: 200},
			{name: "a draft is not on sale", as: w.buyer, call: "PUT /v1/cart/items/" + w.draft, body: map[string]any{"quantity": 1}, status: 404, code: "product_not_found"},
			{name: "a quantity of zero is refused", as: w.buyer, call: "PUT /v1/cart/items/" + w.lamp, body: map[string]any{"quantity": 0},
				status: 400, code: "validation_failed", offSpec: true},
			{name: "an id in upper case is not found", as: w.buyer, call: "PUT /v1/cart/items/" + strings.ToUpper(w.lamp), body: map[string]any{"quantity": 1},
				status: 404, code: "product_not_found", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.buyer, call: "PUT /v1/cart/items/" + w.lamp, body: "quantity=1",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a call without a token is refused", call: "PUT /v1/cart/items/" + w.lamp, body: map[string]any{"quantity": 1},
				status: 401, code: "missing_token", offSpec: true},
		}},
		{"getCart", []contractCase{
			{name: "the buyer reads the cart priced now", as: w.buyer, call: "GET /v1/cart", status: 200},
			{name: "a token that is not a JWT is refused", as: garbage, call: "GET /v1/cart", status: 401, code: "invalid_token"},
			{name: "a call without a token is refused", call: "GET /v1/cart", status: 401, code: "missing_token", offSpec: true},
		}},
		{"deleteCartItem", []contractCase{
			{name: "taking out a product that is not in the cart is no error", as: w.buyer, call: "DELETE /v1/cart/items/" + w.usdLamp, status: 200},
			{name: "an id in upper case is not found", as: w.buyer, call: "DELETE /v1/cart/items/" + strings.ToUpper(w.lamp), status: 404, code: "product_not_found", offSpec: true},
			{name: "a call without a token is refused", call: "DELETE /v1/cart/items/" + w.lamp, status: 401, code: "missing_token", offSpec: true},
		}},
		{"clearCart", []contractCase{
			{name: "the seller empties their cart", as: w.seller, call: "DELETE /v1/cart", status: 204},
			{name: "a call without a token is refused", call: "DELETE /v1/cart", status: 401, code: "missing_token", offSpec: true},
		}},

		{"checkout", []contractCase{
			{name: "the buyer checks out the cart, with a key", as: w.buyer, call: "POST /v1/orders", body: orderOf(),
				header: []string{"Idempotency-Key", "contract-checkout-1"}, status: 201},
			{name: "a retry with the same key and request is answered as the first", as: w.buyer, call: "POST /v1/orders", body: orderOf(),
				header: []string{"Idempotency-Key", "contract-checkout-1"}, status: 201},
			{name: "the same key for another request is refused", as: w.buyer, call: "POST /v1/orders",
				header: []string{"Idempotency-Key", "contract-checkout-1"}, body: orderOf(item(w.lamp, 1)),
				status: 422, code: "idempotency_key_reused"},
			{name: "the buyer checks out items to a shipping address", as: w.buyer, call: "POST /v1/orders",
				body: map[string]any{"items": []any{item(w.lamp, 1)}, "shipping_address": map[string]any{"name": "Ada Lovelace",
					"line1": "Hauptstraße 1", "line2": "Hinterhaus", "city": "Berlin", "region": "BE", "postal_code": "10115", "country": "DE"}},
				status: 201},
			{name: "an order without a shipping address is refused", as: w.buyer, call: "POST /v1/orders",
				body: map[string]any{"items": []any{item(w.lamp, 1)}}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a shipping address in a country no country has is refused", as: w.buyer, call: "POST /v1/orders",
				body: map[string]any{"items": []any{item(w.lamp, 1)}, "shipping_address": map[string]any{"name": "Ada Lovelace",
					"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "ZZ"}},
				status: 400, code: "validation_failed"},
			{name: "more than is available is refused", as: w.buyer, call: "POST /v1/orders",
				body: orderOf(item(w.lamp, 1000)), status: 409, code: "insufficient_stock"},
			{name: "two currencies in one order are refused", as: w.buyer, call: "POST /v1/orders",
				body: orderOf(item(w.lamp, 1), item(w.usdLamp, 1)), status: 422, code: "mixed_currencies"},
			{name: "a draft is not on sale", as: w.buyer, call: "POST /v1/orders",
				body: orderOf(item(w.draft, 1)), status: 422, code: "product_unavailable"},
			{name: "an empty list of items is refused", as: w.buyer, call: "POST /v1/orders",
				body: map[string]any{"items": []any{}, "shipping_address": shippingAddress()}, status: 422, code: "empty_order"},
			{name: "an empty cart is refused", as: w.rival, call: "POST /v1/orders", body: orderOf(), status: 422, code: "empty_order"},
			{name: "a quantity of zero is refused", as: w.buyer, call: "POST /v1/orders",
				body: orderOf(item(w.lamp, 0)), status: 400, code: "validation_failed", offSpec: true},
			{name: "a key with a space is refused", as: w.buyer, call: "POST /v1/orders",
				header: []string{"Idempotency-Key", "two words"}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a body over 32 KiB is refused", as: w.buyer, call: "POST /v1/orders",
				body: map[string]any{"items": manyItems(600)}, status: 413, code: "body_too_large", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.buyer, call: "POST /v1/orders", body: "items=1",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a call without a token is refused", call: "POST /v1/orders", status: 401, code: "missing_token", offSpec: true},
		}},
		{"listOrders", []contractCase{
			{name: "the buyer lists their orders", as: w.buyer, call: "GET /v1/orders", status: 200},
			{name: "the buyer lists a page of one", as: w.buyer, call: "GET /v1/orders?limit=1", status: 200},
			{name: "an admin lists everyone's orders", as: w.admin, call: "GET /v1/orders?scope=all", status: 200},
			{name: "a buyer cannot list everyone's orders", as: w.buyer, call: "GET /v1/orders?scope=all", status: 403, code: "admin_only"},
			{name: "a scope in upper case is refused", as: w.buyer, call: "GET /v1/orders?scope=ALL", status: 400, code: "validation_failed", offSpec: true},
			{name: "a cursor this list never returned is refused", as: w.buyer, call: "GET /v1/orders?cursor=bogus", status: 400, code: "invalid_cursor"},
			{name: "a call without a token is refused", call: "GET /v1/orders", status: 401, code: "missing_token", offSpec: true},
		}},
		{"getOrder", []contractCase{
			{name: "the buyer reads their order", as: w.buyer, call: "GET " + orderPath(w.toPay), status: 200},
			{name: "an admin reads any order", as: w.admin, call: "GET " + orderPath(w.toPay), status: 200},
			{name: "the seller of a sub-order cannot read the order", as: w.seller, call: "GET " + orderPath(w.toPay), status: 404, code: "order_not_found"},
			{name: "an id in upper case is not found", as: w.buyer, call: "GET /v1/orders/" + strings.ToUpper(w.toPay.id), status: 404, code: "order_not_found", offSpec: true},
			{name: "a call without a token is refused", call: "GET " + orderPath(w.toPay), status: 401, code: "missing_token", offSpec: true},
		}},
		{"payOrder", []contractCase{
			{name: "the buyer pays with a card that works", as: w.buyer, call: "POST " + orderPath(w.toPay) + "/payment",
				header: []string{"Idempotency-Key", "contract-pay-1"}, body: map[string]any{"payment_method": "pm_card_visa"}, status: 200},
			{name: "paying a paid order again charges nothing", as: w.buyer, call: "POST " + orderPath(w.toPay) + "/payment",
				body: map[string]any{"payment_method": "pm_card_visa"}, status: 200},
			{name: "a declined card fails the payment", as: w.buyer, call: "POST " + orderPath(w.toDecline) + "/payment",
				body: map[string]any{"payment_method": "pm_card_declined"}, status: 200},
			{name: "paying an order whose payment failed is refused", as: w.buyer, call: "POST " + orderPath(w.toDecline) + "/payment",
				body: map[string]any{"payment_method": "pm_card_visa"}, status: 409, code: "illegal_transition"},
			{name: "a key used to pay another order is refused", as: w.buyer, call: "POST " + orderPath(w.toCancel) + "/payment",
				header: []string{"Idempotency-Key", "contract-pay-1"}, body: map[string]any{"payment_method": "pm_card_visa"},
				status: 422, code: "idempotency_key_reused"},
			{name: "another user's order does not exist for them", as: w.admin, call: "POST " + orderPath(w.toCancel) + "/payment",
				body: map[string]any{"payment_method": "pm_card_visa"}, status: 404, code: "order_not_found"},
			{name: "a payment without a payment method is refused", as: w.buyer, call: "POST " + orderPath(w.toCancel) + "/payment",
				body: map[string]any{}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.buyer, call: "POST " + orderPath(w.toCancel) + "/payment", body: "payment_method=pm_card_visa",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a call without a token is refused", call: "POST " + orderPath(w.toCancel) + "/payment",
				body: map[string]any{"payment_method": "pm_card_visa"}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"cancelOrder", []contractCase{
			{name: "the buyer cancels an unpaid order, saying why", as: w.buyer, call: "POST " + orderPath(w.toCancel) + "/cancel",
				body: map[string]any{"reason": "ordered the wrong colour"}, status: 200},
			{name: "cancelling a cancelled order is refused", as: w.buyer, call: "POST " + orderPath(w.toCancel) + "/cancel", status: 409, code: "illegal_transition"},
			{name: "a reason over 500 bytes is refused", as: w.buyer, call: "POST " + orderPath(w.toPay) + "/cancel",
				body: map[string]any{"reason": strings.Repeat("r", 501)}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a form instead of JSON is refused", as: w.buyer, call: "POST " + orderPath(w.toPay) + "/cancel", body: "reason=none",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "the seller of a sub-order cannot cancel the order", as: w.seller, call: "POST " + orderPath(w.toPay) + "/cancel", status: 404, code: "order_not_found"},
			{name: "a call without a token is refused", call: "POST " + orderPath(w.toPay) + "/cancel", status: 401, code: "missing_token", offSpec: true},
		}},

		{"listSubOrders", []contractCase{
			{name: "a seller lists what they sell", as: w.seller, call: "GET /v1/sub-orders", status: 200},
			{name: "an admin lists every seller's sub-orders", as: w.admin, call: "GET /v1/sub-orders?scope=all&limit=1", status: 200},
			{name: "a seller cannot list everyone's sub-orders", as: w.seller, call: "GET /v1/sub-orders?scope=all", status: 403, code: "admin_only"},
			{name: "a page size over 100 is refused", as: w.seller, call: "GET /v1/sub-orders?limit=101", status: 400, code: "validation_failed", offSpec: true},
			{name: "a call without a token is refused", call: "GET /v1/sub-orders", status: 401, code: "missing_token", offSpec: true},
		}},
		{"getSubOrder", []contractCase{
			{name: "its seller reads a sub-order", as: w.seller, call: "GET " + subPath(w.toPay), status: 200},
			{name: "the buyer cannot read it on its own", as: w.buyer, call: "GET " + subPath(w.toPay), status: 404, code: "sub_order_not_found"},
			{name: "an id in upper case is not found", as: w.seller, call: "GET /v1/sub-orders/" + strings.ToUpper(w.toPay.subOrder),
				status: 404, code: "sub_order_not_found", offSpec: true},
			{name: "a call without a token is refused", call: "GET " + subPath(w.toPay), status: 401, code: "missing_token", offSpec: true},
		}},
		{"shipSubOrder", []contractCase{
			{name: "its seller ships a paid sub-order", as: w.seller, call: "POST " + subPath(w.toPay) + "/ship",
				body: map[string]any{"tracking_number": "1Z999AA10123456784"}, status: 200},
			{name: "shipping it twice is refused", as: w.seller, call: "POST " + subPath(w.toPay) + "/ship",
				body: map[string]any{"tracking_number": "1Z999AA10123456784"}, status: 409, code: "illegal_transition"},
			{name: "a cancelled sub-order cannot ship", as: w.seller, call: "POST " + subPath(w.toCancel) + "/ship",
				body: map[string]any{"tracking_number": "1Z999AA10123456785"}, status: 409, code: "illegal_transition"},
			{name: "another seller's sub-order does not exist for them", as: w.rival, call: "POST " + subPath(w.toPay) + "/ship",
				body: map[string]any{"tracking_number": "1Z999AA10123456786"}, status: 404, code: "sub_order_not_found"},
			{name: "an empty tracking number is refused", as: w.seller, call: "POST " + subPath(w.toDecline) + "/ship",
				body: map[string]any{"tracking_number": ""}, status: 400, code: "validation_failed", offSpec: true},
			{name: "a call without a body is refused", as: w.seller, call: "POST " + subPath(w.toDecline) + "/ship",
				status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a call without a token is refused", call: "POST " + subPath(w.toPay) + "/ship",
				body: map[string]any{"tracking_number": "1Z999AA10123456787"}, status: 401, code: "missing_token", offSpec: true},
		}},
		{"deliverSubOrder", []contractCase{
			{name: "its seller delivers a shipped sub-order", as: w.seller, call: "POST " + subPath(w.toPay) + "/deliver", status: 200},
			{name: "delivering it twice is refused", as: w.seller, call: "POST " + subPath(w.toPay) + "/deliver", status: 409, code: "illegal_transition"},
			{name: "the buyer cannot deliver", as: w.buyer, call: "POST " + subPath(w.toPay) + "/deliver", status: 404, code: "sub_order_not_found"},
			{name: "a call without a token is refused", call: "POST " + subPath(w.toPay) + "/deliver", status: 401, code: "missing_token", offSpec: true},
		}},

		{"getStock", []contractCase{
			{name: "its seller reads a product's stock", as: w.seller, call: "GET /v1/stock/" + w.lamp, status: 200},
			{name: "a product never stocked has none", as: w.seller, call: "GET /v1/stock/" + w.draft, status: 200},
			{name: "a buyer is refused", as: w.buyer, call: "GET /v1/stock/" + w.lamp, status: 403, code: "seller_only"},
			{name: "another seller's product does not exist for them", as: w.rival, call: "GET /v1/stock/" + w.lamp, status: 404, code: "product_not_found"},
			{name: "an id in upper case is not found", as: w.seller, call: "GET /v1/stock/" + strings.ToUpper(w.lamp), status: 404, code: "product_not_found", offSpec: true},
			{name: "a call without a token is refused", call: "GET /v1/stock/" + w.lamp, status: 401, code: "missing_token", offSpec: true},
		}},
		{"getAvailability", []contractCase{
			{name: "anyone learns how many units may be bought", call: "GET /v1/stock/" + w.lamp + "/availability", status: 200},
			{name: "a buyer learns it too", as: w.buyer, call: "GET /v1/stock/" + w.rivalLamp + "/availability", status: 200},
			{name: "a draft is not found", call: "GET /v1/stock/" + w.draft + "/availability", status: 404, code: "product_not_found"},
			{name: "an archived product is not found", call: "GET /v1/stock/" + w.archived + "/availability", status: 404, code: "product_not_found"},
			{name: "an id in upper case is not found", call: "GET /v1/stock/" + strings.ToUpper(w.lamp) + "/availability", status: 404, code: "product_not_found", offSpec: true},
		}},
		{"putStock", []contractCase{
			{name: "its seller counts the units on hand", as: w.seller, call: "PUT /v1/stock/" + w.lamp, body: map[string]any{"on_hand": 20}, status: 200},
			{name: "fewer units than unpaid orders hold are refused", as: w.seller, call: "PUT /v1/stock/" + w.lamp,
				body: map[string]any{"on_hand": 1}, status: 409, code: "stock_below_reserved"},
			{name: "a negative count is refused", as: w.seller, call: "PUT /v1/stock/" + w.lamp, body: map[string]any{"on_hand": -1},
				status: 400, code: "validation_failed", offSpec: true},
			{name: "a buyer is refused", as: w.buyer, call: "PUT /v1/stock/" + w.lamp, body: map[string]any{"on_hand": 5}, status: 403, code: "seller_only"},
			{name: "a product that does not exist is not found", as: w.seller, call: "PUT /v1/stock/" + unknownID,
				body: map[string]any{"on_hand": 5}, status: 404, code: "product_not_found"},
			{name: "a form instead of JSON is refused", as: w.seller, call: "PUT /v1/stock/" + w.lamp, body: "on_hand=5",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a call without a token is refused", call: "PUT /v1/stock/" + w.lamp, body: map[string]any{"on_hand": 5},
				status: 401, code: "missing_token", offSpec: true},
		}},
		{"adjustStock", []contractCase{
			{name: "its seller adds units", as: w.seller, call: "POST /v1/stock/" + w.lamp + "/adjustments", body: map[string]any{"delta": 5}, status: 200},
			{name: "taking away more than is free is refused", as: w.seller, call: "POST /v1/stock/" + w.lamp + "/adjustments",
				body: map[string]any{"delta": -1000}, status: 409, code: "stock_below_reserved"},
			{name: "a delta of zero is refused", as: w.seller, call: "POST /v1/stock/" + w.lamp + "/adjustments", body: map[string]any{"delta": 0},
				status: 400, code: "validation_failed", offSpec: true},
			{name: "a buyer is refused", as: w.buyer, call: "POST /v1/stock/" + w.lamp + "/adjustments", body: map[string]any{"delta": 1},
				status: 403, code: "seller_only"},
			{name: "another seller's product does not exist for them", as: w.rival, call: "POST /v1/stock/" + w.lamp + "/adjustments",
				body: map[string]any{"delta": 1}, status: 404, code: "product_not_found"},
			{name: "a form instead of JSON is refused", as: w.seller, call: "POST /v1/stock/" + w.lamp + "/adjustments", body: "delta=1",
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type", offSpec: true},
			{name: "a call without a token is refused", call: "POST /v1/stock/" + w.lamp + "/adjustments", body: map[string]any{"delta": 1},
				status: 401, code: "missing_token", offSpec: true},
		}},

		{"paymentWebhook", []contractCase{
			{name: "without the Stripe gateway there is no webhook", call: "POST /v1/payments/webhook",
				header: []string{"Stripe-Signature", "t=1,v1=00"}, body: `{"id":"evt_1","type":"payment_intent.succeeded"}`,
				status: 404, code: "route_not_found"},
		}},
		{"getJwks", []contractCase{
			{name: "anyone reads the signing keys", call: "GET /.well-known/jwks.json", status: 200},
			{name: "an Authorization header is ignored here", as: garbage, call: "GET /.well-known/jwks.json", status: 200},
		}},
		{"getOpenAPI", []contractCase{
			{name: "anyone reads this description", call: "GET /api/openapi.yaml", status: 200},
		}},
		{"getAPIReference", []contractCase{
			{name: "anyone reads the rendered reference", call: "GET /api/", status: 200},
		}},
		{"getHealth", []contractCase{
			{name: "the gateway is alive", call: "GET /healthz", status: 200},
		}},
		{"getReadiness", []contractCase{
			{name: "the gateway is ready", call: "GET /readyz", status: 200},
		}},
	}
}

// ----- the Stripe webhook -----

const webhookSecret = "whsec_contract_test"

// startStripePlatform runs a second platform whose orders service charges
// through Stripe, so that it serves the webhook, and returns its gateway's
// address. Nothing here charges, so the API base is never called.
func startStripePlatform(t *testing.T) string {
	t.Helper()
	addrs, _ := startServe(t, testEnv(t, map[string]string{
		"ORDERS_PAYMENT_GATEWAY": "stripe",
		"STRIPE_SECRET_KEY":      "sk_test_contract",
		"STRIPE_API_BASE":        "http://127.0.0.1:9",
		"STRIPE_WEBHOOK_SECRET":  webhookSecret,
	}))
	return addrs["gateway"]
}

// webhookCases send Stripe events: signed with the endpoint's secret, with
// another, without a signature, and too large.
func webhookCases() []contractCase {
	event := `{"id":"evt_contract_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_contract_1","object":"payment_intent","metadata":{"order_id":"` +
		uuid.Must(uuid.NewV7()).String() + `"}}}}`
	other := `{"id":"evt_contract_2","type":"customer.created"}`
	big := `{"id":"evt_contract_3","type":"charge.updated","data":{"object":{"padding":"` + strings.Repeat("p", 300<<10) + `"}}}`
	return []contractCase{
		{name: "a signed report about an unknown order changes nothing", call: "POST /v1/payments/webhook",
			header: []string{"Stripe-Signature", stripeSignature(webhookSecret, event)}, body: event, status: 204},
		{name: "a signed event of another type is acknowledged", call: "POST /v1/payments/webhook",
			header: []string{"Stripe-Signature", stripeSignature(webhookSecret, other)}, body: other, status: 204},
		{name: "a signature made with another secret is refused", call: "POST /v1/payments/webhook",
			header: []string{"Stripe-Signature", stripeSignature("whsec_forged", event)}, body: event, status: 400, code: "invalid_signature"},
		{name: "a call without a signature is refused", call: "POST /v1/payments/webhook", body: event,
			status: 400, code: "invalid_signature", offSpec: true},
		{name: "a body over 256 KiB is refused", call: "POST /v1/payments/webhook",
			header: []string{"Stripe-Signature", stripeSignature(webhookSecret, big)}, body: big, status: 413, code: "body_too_large"},
	}
}

// stripeSignature signs payload as Stripe does: an HMAC-SHA256 of the
// time and the payload with the endpoint's secret.
func stripeSignature(secret, payload string) string {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + payload))
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// manyItems is a checkout list of n lines of made-up products: more than
// the 100 a checkout takes, and, for n of a few hundred, a body over the
// orders service's 32 KiB (600 lines are about 37 KiB).
func manyItems(n int) []any {
	items := make([]any, n)
	for i := range items {
		items[i] = map[string]any{"product_id": uuid.Must(uuid.NewV7()).String(), "quantity": 1}
	}
	return items
}
