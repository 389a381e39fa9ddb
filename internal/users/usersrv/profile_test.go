package usersrv_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func (e *testEnv) patchMe(t *testing.T, token string, body any) response {
	t.Helper()
	return e.do(t, "PATCH", "/v1/users/me", token, body)
}

// profile is the part of a user a PATCH can change.
type profile struct {
	DisplayName     string
	Phone           *string
	ShippingAddress map[string]string
	Preferences     map[string]any
}

func profileOf(u userBody) profile {
	return profile{u.DisplayName, u.Phone, u.ShippingAddress, u.Preferences}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"profile updates change only the fields sent", testProfileUpdatesChangeOnlyTheFieldsSent},
		scenario{"invalid profile updates are rejected wholly", testInvalidProfileUpdatesAreRejectedWholly},
		scenario{"phone and address are encrypted at rest", testPhoneAndAddressAreEncryptedAtRest},
	)
}

func testProfileUpdatesChangeOnlyTheFieldsSent(t *testing.T, e *testEnv) {
	_, tok := e.mustUser(t, "profile@example.com")
	phone := "+14155550123"
	addr := map[string]string{"name": "Ada Lovelace", "line1": "Hauptstraße 5", "city": "Berlin", "postal_code": "10115", "country": "DE"}
	prefs := map[string]any{"currency": "EUR", "language": "de", "marketing": true}

	tests := []struct {
		name string
		body string
		want profile
	}{
		{"an empty update changes nothing",
			`{}`, profile{DisplayName: "Test profile@example.com", Preferences: map[string]any{}}},
		{"the display name is trimmed and set",
			`{"display_name":"  Ada  "}`, profile{DisplayName: "Ada", Preferences: map[string]any{}}},
		{"a phone in E.164 form is set",
			`{"phone":"+14155550123"}`, profile{DisplayName: "Ada", Phone: &phone, Preferences: map[string]any{}}},
		{"a shipping address is set",
			`{"shipping_address":{"name":"Ada Lovelace","line1":"Hauptstraße 5","city":"Berlin","postal_code":"10115","country":"DE"}}`,
			profile{DisplayName: "Ada", Phone: &phone, ShippingAddress: addr, Preferences: map[string]any{}}},
		{"preferences are set",
			`{"preferences":{"currency":"EUR","language":"de","marketing":true}}`,
			profile{DisplayName: "Ada", Phone: &phone, ShippingAddress: addr, Preferences: prefs}},
		{"null clears the phone only",
			`{"phone":null}`, profile{DisplayName: "Ada", ShippingAddress: addr, Preferences: prefs}},
		{"null clears the shipping address",
			`{"shipping_address":null,"display_name":"Ada L."}`, profile{DisplayName: "Ada L.", Preferences: prefs}},
		{"null resets preferences to an empty object",
			`{"preferences":null}`, profile{DisplayName: "Ada L.", Preferences: map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got userBody
			e.patchMe(t, tok.AccessToken, tt.body).want(t, http.StatusOK).decode(t, &got)
			if diff := cmp.Diff(tt.want, profileOf(got)); diff != "" {
				t.Errorf("PATCH answered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, profileOf(e.me(t, tok.AccessToken))); diff != "" {
				t.Errorf("GET /me after PATCH (-want +got):\n%s", diff)
			}
		})
	}
}

func testInvalidProfileUpdatesAreRejectedWholly(t *testing.T, e *testEnv) {
	_, tok := e.mustUser(t, "strict@example.com")
	before := e.patchMe(t, tok.AccessToken, `{"phone":"+4930123456","preferences":{"language":"en"}}`).want(t, http.StatusOK)
	var want userBody
	before.decode(t, &want)

	address := func(change string) string {
		return `{"display_name":"Changed","shipping_address":{"name":"N","line1":"L","city":"C","postal_code":"P","country":"DE"` + change + `}}`
	}
	atLimit := `{"k":"` + strings.Repeat("x", 4096-len(`{"k":""}`)) + `"}`
	tests := []struct {
		name, body string
		fields     []string
	}{
		{"a phone without a plus", `{"display_name":"Changed","phone":"4155550123"}`, []string{"phone"}},
		{"a phone with spaces", `{"display_name":"Changed","phone":"+1 415 555 0123"}`, []string{"phone"}},
		{"a phone that is too short", `{"display_name":"Changed","phone":"+12345"}`, []string{"phone"}},
		{"an empty phone", `{"display_name":"Changed","phone":""}`, []string{"phone"}},
		{"a phone that is a number", `{"phone":4155550123}`, []string{"phone"}},
		{"a lower-case country", address(`,"country":"de"`), []string{"shipping_address.country"}},
		{"a country name", address(`,"country":"Germany"`), []string{"shipping_address.country"}},
		{"an address without line1 and city", address(`,"line1":"","city":"  "`), []string{"shipping_address.line1", "shipping_address.city"}},
		{"an address line over 200 characters", address(`,"line2":"` + strings.Repeat("a", 201) + `"`), []string{"shipping_address.line2"}},
		{"an unknown address field", address(`,"is_default":true`), nil},
		{"an address that is a string", `{"shipping_address":"Hauptstraße 5, Berlin"}`, []string{"shipping_address"}},
		{"preferences that are a string", `{"display_name":"Changed","preferences":"dark"}`, []string{"preferences"}},
		{"preferences that are an array", `{"display_name":"Changed","preferences":[1,2]}`, []string{"preferences"}},
		{"preferences with a number too small for PostgreSQL", `{"display_name":"Changed","preferences":{"a":1e-20000}}`, []string{"preferences"}},
		{"preferences with a number too large for PostgreSQL", `{"display_name":"Changed","preferences":{"a":[1E+200000]}}`, []string{"preferences"}},
		{"preferences with an exponent padded with zeros", `{"preferences":{"a":1e-000000000000000000000020000}}`, []string{"preferences"}},
		{"preferences with an exponent too long for any integer", `{"preferences":{"a":1e-99999999999999999999999999999}}`, []string{"preferences"}},
		{"preferences with a nested number past the exponent bound", `{"display_name":"Changed","preferences":{"a":{"b":-0.5e1001}}}`, []string{"preferences"}},
		{"preferences over 4 KiB", `{"display_name":"Changed","preferences":` + strings.Replace(atLimit, `"k"`, `"kk"`, 1) + `}`, []string{"preferences"}},
		{"an empty display name", `{"display_name":"  ","phone":"+14155550123"}`, []string{"display_name"}},
		{"a display name that is a number", `{"display_name":5}`, []string{"display_name"}},
		{"several bad fields at once", `{"display_name":"","phone":"x","preferences":7}`, []string{"display_name", "phone", "preferences"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.patchMe(t, tok.AccessToken, tt.body).wantProblem(t, http.StatusBadRequest, "validation_failed")
			fields, _ := p["errors"].(map[string]any)
			for _, f := range tt.fields {
				if fields[f] == nil {
					t.Errorf("errors %v do not name %q", fields, f)
				}
			}
		})
	}
	if diff := cmp.Diff(profileOf(want), profileOf(e.me(t, tok.AccessToken))); diff != "" {
		t.Errorf("rejected updates changed the profile (-want +got):\n%s", diff)
	}
	// Exactly 4 KiB of preferences is allowed.
	e.patchMe(t, tok.AccessToken, `{"preferences":`+atLimit+`}`).want(t, http.StatusOK)
	// So are numbers at the exponent bound, which PostgreSQL holds.
	e.patchMe(t, tok.AccessToken, `{"preferences":{"tiny":1e-1000,"small":-25E-0999}}`).want(t, http.StatusOK)
}

func testPhoneAndAddressAreEncryptedAtRest(t *testing.T, e *testEnv) {
	alice, aliceTok := e.mustUser(t, "alice@example.com")
	bob, bobTok := e.mustUser(t, "bob@example.com")
	e.patchMe(t, aliceTok.AccessToken, `{"phone":"+14155550123","shipping_address":{"name":"Alice Secret","line1":"Hauptstraße 5","city":"Berlin","postal_code":"10115","country":"DE"}}`).
		want(t, http.StatusOK)
	e.patchMe(t, bobTok.AccessToken, `{"phone":"+4930999888"}`).want(t, http.StatusOK)

	var phone, address string
	if err := e.DB.QueryRow(t.Context(), `SELECT phone_sealed, address_sealed FROM users WHERE id = $1`, alice.ID).Scan(&phone, &address); err != nil {
		t.Fatal(err)
	}
	for _, sealed := range []string{phone, address} {
		if !strings.HasPrefix(sealed, "v1.") {
			t.Errorf("sealed value %q does not start with v1.", sealed)
		}
		for _, plain := range []string{"4155550123", "Alice Secret", "Hauptstraße", "Berlin", "10115"} {
			if strings.Contains(sealed, plain) {
				t.Errorf("sealed value %q contains %q", sealed, plain)
			}
		}
	}
	if n := e.queryInt(t, `SELECT count(*) FROM users WHERE users::text LIKE '%4155550123%' OR users::text LIKE '%Berlin%'`); n != 0 {
		t.Errorf("plaintext PII found in %d rows", n)
	}

	// Sealed values are bound to their row: Alice's phone pasted into Bob's
	// row does not open. The service fails closed (a logged 500 with a
	// generic body) rather than show Bob a number that is not his.
	e.exec(t, `UPDATE users SET phone_sealed = $2 WHERE id = $1`, bob.ID, phone)
	r := e.do(t, "GET", "/v1/users/me", bobTok.AccessToken, nil)
	r.wantProblem(t, http.StatusInternalServerError, "internal")
	if strings.Contains(string(r.Body), "4155550123") {
		t.Errorf("Bob was shown Alice's phone: %s", r.Body)
	}
	if !strings.Contains(e.Logs.String(), "open phone of "+bob.ID) {
		t.Error("the unopenable value was not logged")
	}
	// ... and to their column: Alice's phone in her own address column.
	e.exec(t, `UPDATE users SET address_sealed = $2 WHERE id = $1`, alice.ID, phone)
	e.do(t, "GET", "/v1/users/me", aliceTok.AccessToken, nil).wantProblem(t, http.StatusInternalServerError, "internal")
}
