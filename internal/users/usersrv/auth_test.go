package usersrv_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegisterLoginAndProfileRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.mustRegister(t, "Alice@Example.COM")
	if u.Email != "alice@example.com" {
		t.Errorf("email %q, want it normalised to lower case", u.Email)
	}
	if len(u.Roles) != 1 || u.Roles[0] != "buyer" {
		t.Errorf("roles %v, want [buyer]", u.Roles)
	}
	tok := e.mustLogin(t, "ALICE@example.com")
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.RefreshToken == "" {
		t.Errorf("tokens %+v", tok)
	}
	var me userBody
	e.do(t, "GET", "/v1/users/me", tok.AccessToken, nil).want(t, http.StatusOK).decode(t, &me)
	if me.ID != u.ID {
		t.Errorf("me %s, want %s", me.ID, u.ID)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"refresh rotates the refresh token", testRefreshRotatesTheRefreshToken},
		scenario{"a token family ends at its absolute lifetime", testATokenFamilyEndsAtItsAbsoluteLifetime},
		scenario{"logout revokes the whole token family", testLogoutRevokesTheWholeTokenFamily},
		scenario{"logout all revokes every session of the user", testLogoutAllRevokesEverySessionOfTheUser},
		scenario{"change password needs the current one and revokes other sessions", testChangePasswordNeedsTheCurrentOneAndRevokesOtherSessions},
		scenario{"become seller", testBecomeSeller},
	)
}

func testRefreshRotatesTheRefreshToken(t *testing.T, e *testEnv) {
	u, first := e.mustUser(t, "rotate@example.com")

	second := e.mustRefresh(t, first.RefreshToken)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("refresh returned the same tokens: %+v", second)
	}
	if got := e.me(t, second.AccessToken); got.ID != u.ID {
		t.Errorf("new access token is for %s, want %s", got.ID, u.ID)
	}
	third := e.mustRefresh(t, second.RefreshToken)
	e.refresh(t, first.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	// Presenting a spent token revoked the family, the newest token too.
	e.refresh(t, third.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
}

func testATokenFamilyEndsAtItsAbsoluteLifetime(t *testing.T, e *testEnv) {
	u := e.mustRegister(t, "lifetime@example.com")
	type expiry struct {
		RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	}
	var first, second expiry
	r := e.tryLogin(t, "lifetime@example.com", goodPassword).want(t, http.StatusOK)
	r.decode(t, &first)
	var tok tokenBody
	r.decode(t, &tok)
	if d := time.Until(first.RefreshExpiresAt); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour {
		t.Errorf("refresh token expires in %v, want the 30-day session lifetime", d)
	}
	r = e.refresh(t, tok.RefreshToken).want(t, http.StatusOK)
	r.decode(t, &second)
	r.decode(t, &tok)
	// Login reports the end in nanoseconds, refresh as stored (microseconds).
	if d := second.RefreshExpiresAt.Sub(first.RefreshExpiresAt); d.Abs() > time.Millisecond {
		t.Errorf("rotation moved the family's end from %v to %v; it must not slide", first.RefreshExpiresAt, second.RefreshExpiresAt)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("tokens sent with Cache-Control %q, want no-store", cc)
	}
	e.exec(t, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, u.ID)
	e.refresh(t, tok.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
}

func testLogoutRevokesTheWholeTokenFamily(t *testing.T, e *testEnv) {
	e.mustRegister(t, "logout@example.com")
	session := e.mustLogin(t, "logout@example.com")
	other := e.mustLogin(t, "logout@example.com")
	rotated := e.mustRefresh(t, session.RefreshToken)

	e.do(t, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": rotated.RefreshToken}).want(t, http.StatusNoContent)

	e.refresh(t, rotated.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	e.mustRefresh(t, other.RefreshToken) // another session of the user is untouched
	// Logging out with an unknown token still answers 204: the caller is out.
	e.do(t, "POST", "/v1/auth/logout", "", map[string]string{"refresh_token": "unknown"}).want(t, http.StatusNoContent)
}

func testLogoutAllRevokesEverySessionOfTheUser(t *testing.T, e *testEnv) {
	e.mustRegister(t, "everywhere@example.com")
	e.mustRegister(t, "bystander@example.com")
	laptop := e.mustLogin(t, "everywhere@example.com")
	phone := e.mustLogin(t, "everywhere@example.com")
	bystander := e.mustLogin(t, "bystander@example.com")

	e.do(t, "POST", "/v1/auth/logout-all", "", nil).wantProblem(t, http.StatusUnauthorized, "missing_token")
	e.do(t, "POST", "/v1/auth/logout-all", laptop.AccessToken, nil).want(t, http.StatusNoContent)

	for _, tok := range []tokenBody{laptop, phone} {
		e.refresh(t, tok.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	}
	e.mustRefresh(t, bystander.RefreshToken)
	e.mustLogin(t, "everywhere@example.com") // a new login opens a new session
}

func testChangePasswordNeedsTheCurrentOneAndRevokesOtherSessions(t *testing.T, e *testEnv) {
	const email, newPassword = "changer@example.com", "velvet-harbor-canyon-7"
	e.mustRegister(t, email)
	mine := e.mustLogin(t, email)
	other := e.mustLogin(t, email)

	tests := []struct {
		name            string
		current, next   string
		status          int
		code, fieldName string
	}{
		{name: "a wrong current password is refused", current: "not-my-password-1", next: newPassword, status: http.StatusForbidden, code: "wrong_password"},
		{name: "a weak new password is refused", current: goodPassword, next: "short", status: http.StatusBadRequest, code: "validation_failed", fieldName: "new_password"},
		{name: "a common new password is refused", current: goodPassword, next: "password1234", status: http.StatusBadRequest, code: "validation_failed", fieldName: "new_password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.do(t, "POST", "/v1/users/me/password", mine.AccessToken,
				map[string]string{"current_password": tt.current, "new_password": tt.next}).wantProblem(t, tt.status, tt.code)
			if tt.fieldName != "" {
				if fields, _ := p["errors"].(map[string]any); fields[tt.fieldName] == nil {
					t.Errorf("errors %v do not name %s", p["errors"], tt.fieldName)
				}
			}
		})
	}
	e.mustLogin(t, email) // nothing changed so far

	e.do(t, "POST", "/v1/users/me/password", mine.AccessToken,
		map[string]string{"current_password": goodPassword, "new_password": newPassword}).want(t, http.StatusNoContent)

	e.refresh(t, other.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	e.mustRefresh(t, mine.RefreshToken)
	e.login(t, email, newPassword)
	e.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": goodPassword}).
		wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
}

func testBecomeSeller(t *testing.T, e *testEnv) {
	_, alice := e.mustUser(t, "alice@example.com")
	_, bob := e.mustUser(t, "bob@example.com")
	seller := func(tok tokenBody, shop any) response {
		return e.do(t, "POST", "/v1/users/me/seller", tok.AccessToken, map[string]any{"shop_name": shop})
	}

	seller(alice, "   ").wantFieldError(t, "shop_name")
	var u userBody
	seller(alice, "  Alice's Attic ").want(t, http.StatusCreated).decode(t, &u)
	if u.ShopName == nil || *u.ShopName != "Alice's Attic" || !slices.Contains(u.Roles, "seller") {
		t.Errorf("after becoming a seller: shop %v, roles %v", u.ShopName, u.Roles)
	}

	if roles := tokenRoles(t, alice.AccessToken); slices.Contains(roles, "seller") {
		t.Errorf("the old access token already has roles %v", roles)
	}
	fresh := e.mustRefresh(t, alice.RefreshToken)
	if roles := tokenRoles(t, fresh.AccessToken); !slices.Contains(roles, "seller") || !slices.Contains(roles, "buyer") {
		t.Errorf("refreshed access token has roles %v, want buyer and seller", roles)
	}
	if me := e.me(t, fresh.AccessToken); me.ShopName == nil || *me.ShopName != "Alice's Attic" {
		t.Errorf("/me shop_name %v", me.ShopName)
	}

	seller(bob, "ALICE'S ATTIC").wantProblem(t, http.StatusConflict, "shop_name_taken")
	seller(alice, "Another Shop").wantProblem(t, http.StatusConflict, "already_seller")
	if me := e.me(t, bob.AccessToken); me.ShopName != nil || slices.Contains(me.Roles, "seller") {
		t.Errorf("bob after a refused request: shop %v, roles %v", me.ShopName, me.Roles)
	}
}

// tokenRoles reads the roles claim of an access token without verifying it.
func tokenRoles(t *testing.T, token string) []string {
	t.Helper()
	var claims struct {
		Roles []string `json:"roles"`
	}
	decodeSegment(t, token, 1, &claims)
	return claims.Roles
}

// decodeSegment decodes the JSON of part i (0 header, 1 claims) of a JWT.
func decodeSegment(t *testing.T, token string, i int, v any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
