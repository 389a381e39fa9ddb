package usersrv_test

import (
	"net/http"
	"testing"
)

func TestRegisterLoginAndProfileRoundTrip(t *testing.T) {
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
