package usersrv_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// badRequest is one malformed request and the problem it must get.
type badRequest struct {
	name        string
	method      string
	path        string
	body        string
	contentType string // "" means application/json; "-" sends none
	status      int
	code        string
	field       string // a field the problem's errors must name
}

func (e *testEnv) send(t *testing.T, token string, tt badRequest) response {
	t.Helper()
	switch tt.contentType {
	case "":
		return e.do(t, tt.method, tt.path, token, tt.body)
	case "-":
		return e.do(t, tt.method, tt.path, token, tt.body, "Content-Type", "")
	default:
		return e.do(t, tt.method, tt.path, token, tt.body, "Content-Type", tt.contentType)
	}
}

func (tt badRequest) check(t *testing.T, r response) {
	t.Helper()
	p := r.wantProblem(t, tt.status, tt.code)
	if tt.field == "" {
		return
	}
	if fields, _ := p["errors"].(map[string]any); fields[tt.field] == nil {
		t.Errorf("errors %v do not name %q", p["errors"], tt.field)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"malformed requests are rejected and change nothing", testMalformedRequestsAreRejectedAndChangeNothing},
		scenario{"a JSON content type with parameters is accepted", testJSONContentTypeWithParametersIsAccepted},
		scenario{"profile updates cannot set roles ids or account fields", testProfileUpdatesCannotSetRolesIdsOrAccountFields},
		scenario{"register rejects weak passwords", testRegisterRejectsWeakPasswords},
		scenario{"register rejects invalid emails", testRegisterRejectsInvalidEmails},
		scenario{"register refuses a taken email in any letter case", testRegisterRefusesATakenEmailInAnyLetterCase},
		scenario{"unknown routes and methods answer problems", testUnknownRoutesAndMethodsAnswerProblems},
	)
}

func testMalformedRequestsAreRejectedAndChangeNothing(t *testing.T, e *testEnv) {
	const reg = "/v1/auth/register"
	valid := `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"New"}`
	huge := `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"` + strings.Repeat("x", 17<<10) + `"}`
	tests := []badRequest{
		{name: "invalid JSON", path: reg, body: `{"email":`, status: 400, code: "malformed_json"},
		{name: "not JSON at all", path: reg, body: `email=a@b.c`, status: 400, code: "malformed_json"},
		{name: "an empty body", path: reg, body: ``, status: 400, code: "malformed_json"},
		{name: "trailing data after the object", path: reg, body: valid + ` {}`, status: 400, code: "malformed_json"},
		{name: "trailing garbage after the object", path: reg, body: valid + `x`, status: 400, code: "malformed_json"},
		{name: "an array instead of an object", path: reg, body: `[` + valid + `]`, status: 400, code: "validation_failed", field: "(body)"},
		{name: "a text/plain content type", path: reg, body: valid, contentType: "text/plain", status: 415, code: "unsupported_media_type"},
		{name: "a form content type", path: reg, body: valid, contentType: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type"},
		{name: "no content type", path: reg, body: valid, contentType: "-", status: 415, code: "unsupported_media_type"},
		{name: "a body over 16 KiB", path: reg, body: huge, status: 413, code: "body_too_large"},
		{name: "missing email", path: reg, body: `{"password":"plum-kettle-orbit-42","display_name":"New"}`, status: 400, code: "validation_failed", field: "email"},
		{name: "missing password", path: reg, body: `{"email":"new@example.com","display_name":"New"}`, status: 400, code: "validation_failed", field: "password"},
		{name: "missing display name", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42"}`, status: 400, code: "validation_failed", field: "display_name"},
		{name: "an empty object", path: reg, body: `{}`, status: 400, code: "validation_failed", field: "email"},
		{name: "a password that is a number", path: reg, body: `{"email":"new@example.com","password":123456789012,"display_name":"New"}`, status: 400, code: "validation_failed", field: "password"},
		{name: "an email that is a boolean", path: reg, body: `{"email":true,"password":"plum-kettle-orbit-42","display_name":"New"}`, status: 400, code: "validation_failed", field: "email"},
		{name: "a display name that is an object", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":{}}`, status: 400, code: "validation_failed", field: "display_name"},
		{name: "a display name with control characters", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"a\u0007b"}`, status: 400, code: "validation_failed", field: "display_name"},
		{name: "a display name over 100 characters", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"` + strings.Repeat("é", 101) + `"}`, status: 400, code: "validation_failed", field: "display_name"},
		{name: "an unknown field", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"New","nickname":"n"}`, status: 400, code: "validation_failed", field: "nickname"},
		{name: "roles on register", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"New","roles":["admin"]}`, status: 400, code: "validation_failed", field: "roles"},
		{name: "an id on register", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"New","id":"00000000-0000-0000-0000-000000000001"}`, status: 400, code: "validation_failed", field: "id"},
		{name: "disabled on register", path: reg, body: `{"email":"new@example.com","password":"plum-kettle-orbit-42","display_name":"New","disabled":false}`, status: 400, code: "validation_failed", field: "disabled"},
		{name: "a login password that is a number", path: "/v1/auth/login", body: `{"email":"new@example.com","password":1}`, status: 400, code: "validation_failed", field: "password"},
		{name: "a login with an unknown field", path: "/v1/auth/login", body: `{"email":"new@example.com","password":"x","otp":"1"}`, status: 400, code: "validation_failed", field: "otp"},
		{name: "a refresh token that is a number", path: "/v1/auth/refresh", body: `{"refresh_token":1}`, status: 400, code: "validation_failed", field: "refresh_token"},
		{name: "a refresh without a body", path: "/v1/auth/refresh", body: ``, status: 400, code: "malformed_json"},
		{name: "a reset request with a wrong content type", path: "/v1/auth/password-reset", body: `{"email":"new@example.com"}`, contentType: "text/json", status: 415, code: "unsupported_media_type"},
		{name: "a reset confirmation with an unknown field", path: "/v1/auth/password-reset/confirm", body: `{"token":"t","new_password":"plum-kettle-orbit-42","email":"new@example.com"}`, status: 400, code: "validation_failed", field: "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.method = "POST"
			tt.check(t, e.send(t, "", tt))
		})
	}
	if n := e.queryInt(t, `SELECT count(*) FROM users WHERE email = 'new@example.com'`); n != 0 {
		t.Errorf("rejected requests registered new@example.com")
	}
}

func testJSONContentTypeWithParametersIsAccepted(t *testing.T, e *testEnv) {
	e.do(t, "POST", "/v1/auth/register", "", `{"email":"charset@example.com","password":"plum-kettle-orbit-42","display_name":"C"}`,
		"Content-Type", "application/json; charset=utf-8").want(t, http.StatusCreated)
}

func testProfileUpdatesCannotSetRolesIdsOrAccountFields(t *testing.T, e *testEnv) {
	u, tok := e.mustUser(t, "mass@example.com")
	tests := []badRequest{
		{name: "roles", body: `{"display_name":"Mallory","roles":["buyer","admin"]}`, field: "roles"},
		{name: "id", body: `{"display_name":"Mallory","id":"00000000-0000-0000-0000-000000000001"}`, field: "id"},
		{name: "disabled", body: `{"display_name":"Mallory","disabled":true}`, field: "disabled"},
		{name: "email", body: `{"display_name":"Mallory","email":"other@example.com"}`, field: "email"},
		{name: "password hash", body: `{"display_name":"Mallory","password_hash":"x"}`, field: "password_hash"},
		{name: "shop name", body: `{"display_name":"Mallory","shop_name":"Free Shop"}`, field: "shop_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			tt.method, tt.path, tt.status, tt.code = "PATCH", "/v1/users/me", 400, "validation_failed"
			tt.check(t, e.send(t, tok.AccessToken, tt))
		})
	}
	me := e.me(t, tok.AccessToken)
	if me.ID != u.ID || me.Email != u.Email || me.DisplayName != u.DisplayName || me.Disabled || me.ShopName != nil ||
		!slices.Equal(me.Roles, []string{"buyer"}) {
		t.Errorf("account changed by rejected updates: %+v", me)
	}
	fresh := e.mustRefresh(t, tok.RefreshToken)
	if roles := tokenRoles(t, fresh.AccessToken); !slices.Equal(roles, []string{"buyer"}) {
		t.Errorf("new access token roles %v, want [buyer]", roles)
	}
}

func testRegisterRejectsWeakPasswords(t *testing.T, e *testEnv) {
	const email = "someone.long@example.com"
	tests := []struct {
		name     string
		password string
	}{
		{"an empty password", ""},
		{"a password of 11 characters", "plum-kettle"},
		{"a common password", "password1234"},
		{"a common password in other letter case", "PassWord1234"},
		{"a well-known phrase", "correcthorsebatterystaple"},
		{"the email itself", email},
		{"the email in upper case", strings.ToUpper(email)},
		{"a password over 256 bytes", strings.Repeat("long-password-", 19)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, "POST", "/v1/auth/register", "", map[string]string{"email": email, "password": tt.password, "display_name": "S"}).
				wantFieldError(t, "password")
		})
	}
	if n := e.queryInt(t, `SELECT count(*) FROM users WHERE email = $1`, email); n != 0 {
		t.Fatal("an account was registered with a weak password")
	}
	// Twelve characters count as twelve even when they take more bytes.
	e.do(t, "POST", "/v1/auth/register", "", map[string]string{"email": email, "password": "ééééééééééé1", "display_name": "S"}).
		want(t, http.StatusCreated)
}

func testRegisterRejectsInvalidEmails(t *testing.T, e *testEnv) {
	before := e.queryInt(t, `SELECT count(*) FROM users`)
	for _, email := range []string{
		"", "   ", "no-at-sign", "two@@example.com", "alice@localhost", "Alice <alice@example.com>",
		"alice@example.com, bob@example.com", "alice@example.com\nBcc: x@example.com", "alice example@example.com",
		strings.Repeat("a", 250) + "@example.com",
	} {
		t.Run(strings.ReplaceAll(email, "\n", `\n`), func(t *testing.T) {
			e.do(t, "POST", "/v1/auth/register", "", map[string]string{"email": email, "password": goodPassword, "display_name": "E"}).
				wantFieldError(t, "email")
		})
	}
	if n := e.queryInt(t, `SELECT count(*) FROM users`); n != before {
		t.Fatalf("%d users registered with invalid emails", n-before)
	}
}

func testRegisterRefusesATakenEmailInAnyLetterCase(t *testing.T, e *testEnv) {
	first := e.mustRegister(t, "dup@example.com")
	for _, email := range []string{"dup@example.com", "DUP@EXAMPLE.COM", "Dup@Example.Com", "  dup@example.com  "} {
		t.Run(email, func(t *testing.T) {
			e.do(t, "POST", "/v1/auth/register", "", map[string]string{"email": email, "password": "another-strong-pass-9", "display_name": "Other"}).
				wantProblem(t, http.StatusConflict, "email_taken")
		})
	}
	if n := e.queryInt(t, `SELECT count(*) FROM users WHERE lower(email) = 'dup@example.com'`); n != 1 {
		t.Errorf("%d rows for the email, want 1", n)
	}
	// The first owner's password still works: the duplicate changed nothing.
	if me := e.me(t, e.mustLogin(t, "dup@example.com").AccessToken); me.ID != first.ID || me.DisplayName != first.DisplayName {
		t.Errorf("account after duplicates: %+v, want %+v", me, first)
	}
}

func testUnknownRoutesAndMethodsAnswerProblems(t *testing.T, e *testEnv) {
	if r := e.do(t, "GET", "/v1/nowhere", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown path: status %d", r.Status)
	} else {
		r.problem(t)
	}
	r := e.do(t, "GET", "/v1/auth/login", "", nil)
	if r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET on a POST route: status %d", r.Status)
	}
}
