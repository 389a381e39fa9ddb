package usersrv_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type userPage struct {
	Users []userBody `json:"users"`
	Next  *string    `json:"next_cursor"`
}

func (e *testEnv) listUsers(t *testing.T, token, query string) userPage {
	t.Helper()
	var page userPage
	e.do(t, "GET", "/v1/admin/users?"+query, token, nil).want(t, http.StatusOK).decode(t, &page)
	return page
}

func TestAdminListsEveryUserPageByPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin, tok := e.mustAdmin(t, "admin@example.com")
	want := []string{admin.ID}
	for i := range 6 {
		want = append(want, e.mustRegister(t, "user"+strconv.Itoa(i)+"@example.com").ID)
	}
	slices.Sort(want)

	var got []string
	pages := 0
	for cursor := ""; ; pages++ {
		page := e.listUsers(t, tok.AccessToken, "limit=2&cursor="+url.QueryEscape(cursor))
		if len(page.Users) > 2 {
			t.Fatalf("page of %d users with limit=2", len(page.Users))
		}
		for _, u := range page.Users {
			got = append(got, u.ID)
		}
		if page.Next == nil {
			break
		}
		cursor = *page.Next
		if pages > len(want) {
			t.Fatal("the listing does not end")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("walked ids\n%v\nwant each user once in id order\n%v", got, want)
	}
	if pages != 3 {
		t.Errorf("%d pages after the first, want 3", pages)
	}
	if page := e.listUsers(t, tok.AccessToken, "limit=7"); len(page.Users) != 7 || page.Next != nil {
		t.Errorf("limit=7 over 7 users: %d users, next %v", len(page.Users), page.Next)
	}
	if page := e.listUsers(t, tok.AccessToken, ""); len(page.Users) != 7 {
		t.Errorf("default page has %d users", len(page.Users))
	}
	for _, path := range []string{"/v1/admin/users", "/v1/admin/users/" + admin.ID, "/v1/users/me"} {
		if body := string(e.do(t, "GET", path, tok.AccessToken, nil).want(t, http.StatusOK).Body); strings.Contains(body, "argon2") || strings.Contains(body, "password") {
			t.Errorf("%s shows password material: %s", path, body)
		}
	}

	for _, q := range []string{"cursor=***", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte("short")), "cursor=" + strings.Repeat("A", 30)} {
		e.do(t, "GET", "/v1/admin/users?"+q, tok.AccessToken, nil).wantProblem(t, http.StatusBadRequest, "invalid_cursor")
	}
	for _, limit := range []string{"0", "-1", "101", "ten", "1.5"} {
		e.do(t, "GET", "/v1/admin/users?limit="+limit, tok.AccessToken, nil).wantFieldError(t, "limit")
	}
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"admin endpoints need the admin role", testAdminEndpointsNeedTheAdminRole},
		scenario{"admin grants and revokes roles", testAdminGrantsAndRevokesRoles},
		scenario{"admins cannot lock themselves out", testAdminsCannotLockThemselvesOut},
		scenario{"admin actions on missing users answer not found", testAdminActionsOnMissingUsersAnswerNotFound},
	)
}

func testAdminEndpointsNeedTheAdminRole(t *testing.T, e *testEnv) {
	victim, _ := e.mustUser(t, "victim@example.com")
	_, buyer := e.mustUser(t, "buyer@example.com")
	_, sellerTok := e.mustUser(t, "seller@example.com")
	e.do(t, "POST", "/v1/users/me/seller", sellerTok.AccessToken, map[string]string{"shop_name": "S"}).want(t, http.StatusCreated)
	seller := e.mustRefresh(t, sellerTok.RefreshToken)

	base := "/v1/admin/users/" + victim.ID
	endpoints := []struct{ method, path string }{
		{"GET", "/v1/admin/users"},
		{"GET", base},
		{"PUT", base + "/roles/admin"},
		{"DELETE", base + "/roles/buyer"},
		{"POST", base + "/disable"},
		{"POST", base + "/enable"},
	}
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			e.do(t, ep.method, ep.path, "", nil).wantProblem(t, http.StatusUnauthorized, "missing_token")
			e.do(t, ep.method, ep.path, buyer.AccessToken, nil).wantProblem(t, http.StatusForbidden, "admin_only")
			e.do(t, ep.method, ep.path, seller.AccessToken, nil).wantProblem(t, http.StatusForbidden, "admin_only")
		})
	}
	var v userBody
	if err := e.DB.QueryRow(t.Context(), `SELECT roles, disabled FROM users WHERE id = $1`, victim.ID).Scan(&v.Roles, &v.Disabled); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Roles, []string{"buyer"}) || v.Disabled {
		t.Errorf("victim after refused admin calls: roles %v, disabled %v", v.Roles, v.Disabled)
	}
}

func testAdminGrantsAndRevokesRoles(t *testing.T, e *testEnv) {
	_, admin := e.mustAdmin(t, "grantor@example.com")
	u, tok := e.mustUser(t, "promoted@example.com")
	role := func(method, role string) response {
		return e.do(t, method, "/v1/admin/users/"+u.ID+"/roles/"+role, admin.AccessToken, nil)
	}
	roles := func(r response) []string {
		var got userBody
		r.want(t, http.StatusOK).decode(t, &got)
		return got.Roles
	}

	tests := []struct {
		name   string
		method string
		role   string
		want   []string
	}{
		{"granting seller adds it", "PUT", "seller", []string{"buyer", "seller"}},
		{"granting seller again changes nothing", "PUT", "seller", []string{"buyer", "seller"}},
		{"granting admin adds it", "PUT", "admin", []string{"buyer", "seller", "admin"}},
		{"revoking seller removes it", "DELETE", "seller", []string{"buyer", "admin"}},
		{"revoking a role the user lacks changes nothing", "DELETE", "seller", []string{"buyer", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := roles(role(tt.method, tt.role)); !slices.Equal(got, tt.want) {
				t.Errorf("roles %v, want %v", got, tt.want)
			}
		})
	}
	for _, method := range []string{"PUT", "DELETE"} {
		role(method, "superuser").wantFieldError(t, "role")
		role(method, "Admin").wantFieldError(t, "role")
	}
	if got := roles(e.do(t, "GET", "/v1/admin/users/"+u.ID, admin.AccessToken, nil)); !slices.Equal(got, []string{"buyer", "admin"}) {
		t.Errorf("GET user: roles %v", got)
	}

	// The granted role takes effect with the next access token.
	e.do(t, "GET", "/v1/admin/users", tok.AccessToken, nil).wantProblem(t, http.StatusForbidden, "admin_only")
	promoted := e.mustRefresh(t, tok.RefreshToken)
	e.listUsers(t, promoted.AccessToken, "")
	role("DELETE", "admin").want(t, http.StatusOK)
	// A revoked admin loses the power at once, not when the token expires.
	e.do(t, "GET", "/v1/admin/users", promoted.AccessToken, nil).wantProblem(t, http.StatusForbidden, "admin_only")
	e.do(t, "POST", "/v1/admin/users/"+u.ID+"/disable", promoted.AccessToken, nil).wantProblem(t, http.StatusForbidden, "admin_only")
	demoted := e.mustRefresh(t, promoted.RefreshToken)
	if slices.Contains(tokenRoles(t, demoted.AccessToken), "admin") {
		t.Error("a refreshed token still carries the revoked admin role")
	}
}

func testAdminsCannotLockThemselvesOut(t *testing.T, e *testEnv) {
	admin, tok := e.mustAdmin(t, "careful-admin@example.com")
	for _, id := range []string{admin.ID, strings.ToUpper(admin.ID)} {
		e.do(t, "POST", "/v1/admin/users/"+id+"/disable", tok.AccessToken, nil).wantProblem(t, http.StatusConflict, "self_disable")
		e.do(t, "DELETE", "/v1/admin/users/"+id+"/roles/admin", tok.AccessToken, nil).wantProblem(t, http.StatusConflict, "last_admin_guard")
	}
	me := e.me(t, tok.AccessToken)
	if me.Disabled || !slices.Contains(me.Roles, "admin") {
		t.Errorf("admin after refused self-changes: %+v", me)
	}
	// Enabling oneself is harmless, and other roles may be dropped.
	e.do(t, "POST", "/v1/admin/users/"+admin.ID+"/enable", tok.AccessToken, nil).want(t, http.StatusOK)
	e.do(t, "PUT", "/v1/admin/users/"+admin.ID+"/roles/seller", tok.AccessToken, nil).want(t, http.StatusOK)
	e.do(t, "DELETE", "/v1/admin/users/"+admin.ID+"/roles/seller", tok.AccessToken, nil).want(t, http.StatusOK)
}

func testAdminActionsOnMissingUsersAnswerNotFound(t *testing.T, e *testEnv) {
	_, tok := e.mustAdmin(t, "searching-admin@example.com")
	for _, id := range []string{uuid.NewString(), "not-a-uuid", "123"} {
		for _, ep := range []struct{ method, suffix string }{
			{"GET", ""}, {"PUT", "/roles/seller"}, {"DELETE", "/roles/seller"}, {"POST", "/disable"}, {"POST", "/enable"},
		} {
			t.Run(ep.method+" "+id+ep.suffix, func(t *testing.T) {
				e.do(t, ep.method, "/v1/admin/users/"+id+ep.suffix, tok.AccessToken, nil).wantProblem(t, http.StatusNotFound, "user_not_found")
			})
		}
	}
}

func TestAdminSearchesAccountsByEmailPageByPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.mustAdmin(t, "admin@example.com")
	var want []string
	for i := range 3 {
		want = append(want, e.mustRegister(t, "Shopper"+strconv.Itoa(i)+"@search.example").ID)
		e.mustRegister(t, "other"+strconv.Itoa(i)+"@example.com")
	}
	first := e.listUsers(t, tok.AccessToken, "email=SEARCH.example&limit=2")
	if first.Next == nil {
		t.Fatalf("first page of 3 matches with limit=2 has no next cursor: %+v", first)
	}
	second := e.listUsers(t, tok.AccessToken, "email=SEARCH.example&limit=2&cursor="+url.QueryEscape(*first.Next))
	var got []string
	for _, u := range append(first.Users, second.Users...) {
		got = append(got, u.ID)
	}
	if !slices.Equal(got, want) || second.Next != nil {
		t.Errorf("search walked %v (next %v), want the 3 matching accounts in id order %v", got, second.Next, want)
	}

	// A cursor continues the search it came from only.
	e.do(t, "GET", "/v1/admin/users?email=other&cursor="+url.QueryEscape(*first.Next), tok.AccessToken, nil).
		wantProblem(t, http.StatusBadRequest, "invalid_cursor")
	e.do(t, "GET", "/v1/admin/users?email="+strings.Repeat("a", 255), tok.AccessToken, nil).wantFieldError(t, "email")
}
