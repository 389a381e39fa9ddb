package storefront

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	moneyfmt "github.com/marketplace-go/marketplace/internal/platform/money"
)

// form is a sign-in form's values to show again, never the password.
type form struct {
	Email, Name, Next, Token string
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "title.login", Data: form{Next: localPath(r.URL.Query().Get("next"))}}
	if r.URL.Query().Get("reset") != "" {
		p.Notice = "notice.password_changed"
	}
	if r.URL.Query().Get("disabled") != "" {
		p.Error = "err.account_disabled"
	}
	h.render(w, r, http.StatusOK, "login", p)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	f := form{Email: strings.TrimSpace(r.PostFormValue("email")), Next: localPath(r.PostFormValue("next"))}
	if err := h.signIn(v, f.Email, r.PostFormValue("password")); err != nil {
		h.formFailed(w, r, "login", "title.login", f, err)
		return
	}
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// signIn logs the visitor in with the API and keeps the session, with
// the language of the account's preferences.
func (h *Handler) signIn(v *visitor, email, password string) error {
	var t tokens
	if _, err := h.do(v.r, call{method: http.MethodPost, path: "/v1/auth/login",
		body: map[string]string{"email": email, "password": password}}, &t); err != nil {
		return err
	}
	if err := v.signIn(t); err != nil {
		return err
	}
	var u me
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/users/me"}, &u); err != nil {
		return err
	}
	return v.setLanguage(u.pref("language"))
}

// formFailed shows the form again with what the API said was wrong, or
// the error page when it was not the person's input.
func (h *Handler) formFailed(w http.ResponseWriter, r *http.Request, name, title string, f form, err error) {
	var e *apiError
	if !errors.As(err, &e) || e.Status == 0 || e.Status >= 500 {
		h.fail(w, r, err)
		return
	}
	msg := h.sentence(r, e)
	if e.Status == http.StatusTooManyRequests {
		msg = h.tooMany(r, e)
	}
	h.render(w, r, e.Status, name, page{Title: title, Error: msg, Fields: e.Errors, Data: f})
}

func (h *Handler) registerForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "register", page{Title: "title.register", Data: form{Next: localPath(r.URL.Query().Get("next"))}})
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	f := form{Email: strings.TrimSpace(r.PostFormValue("email")), Name: strings.TrimSpace(r.PostFormValue("display_name")),
		Next: localPath(r.PostFormValue("next"))}
	password := r.PostFormValue("password")
	_, err := h.do(r, call{method: http.MethodPost, path: "/v1/auth/register",
		body: map[string]string{"email": f.Email, "password": password, "display_name": f.Name}}, nil)
	if err == nil {
		err = h.signIn(v, f.Email, password)
	}
	if err != nil {
		h.formFailed(w, r, "register", "title.register", f, err)
		return
	}
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// logout ends the API session, not only the cookie: the refresh token is
// revoked, so a copy of the cookie is worth nothing.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if s := h.loadSession(r); s != nil {
		_, err := h.do(r, call{method: http.MethodPost, path: "/v1/auth/logout",
			body: map[string]string{"refresh_token": s.Refresh}}, nil)
		if err != nil && !isAPI(err, http.StatusBadRequest, "") && !isAPI(err, http.StatusUnauthorized, "") {
			h.fail(w, r, err)
			return
		}
	}
	_ = h.saveSession(w, r, nil)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) forgotForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgot", page{Title: "title.forgot", Data: form{}})
}

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	f := form{Email: strings.TrimSpace(r.PostFormValue("email"))}
	_, err := h.do(r, call{method: http.MethodPost, path: "/v1/auth/password-reset",
		body: map[string]string{"email": f.Email}}, nil)
	if err != nil {
		h.formFailed(w, r, "forgot", "title.forgot", f, err)
		return
	}
	h.render(w, r, http.StatusOK, "forgot", page{Title: "title.forgot", Data: f,
		Notice: "notice.reset_sent"})
}

// resetForm is the page the reset mail links to.
func (h *Handler) resetForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" {
		http.Redirect(w, r, "/forgot-password", http.StatusSeeOther)
		return
	}
	// The token leaves the address bar's history out of the referrer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.render(w, r, http.StatusOK, "reset", page{Title: "title.reset", Data: form{Token: token}})
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	f := form{Token: r.PostFormValue("token")}
	_, err := h.do(r, call{method: http.MethodPost, path: "/v1/auth/password-reset/confirm",
		body: map[string]string{"token": f.Token, "new_password": r.PostFormValue("new_password")}}, nil)
	if err != nil {
		h.formFailed(w, r, "reset", "title.reset", f, err)
		return
	}
	// Every session of the account is revoked, this browser's too.
	_ = h.saveSession(w, r, nil)
	http.Redirect(w, r, "/login?reset=1", http.StatusSeeOther)
}

// languageChoices are the languages a person may choose, each named in
// itself.
var languageChoices = []struct{ Value, Label string }{{"en", "English"}, {"de", "Deutsch"}}

// accountData is the account page's: the account, the profile form and
// the preferences form.
type accountData struct {
	User               me
	Profile            profileForm
	Language, Currency string
	Languages          any
	Currencies         []string
}

// profileForm is the profile as the account page's form holds it. Its
// inputs are named as the API names the fields (shipping_address.city),
// so that the API's errors land by their inputs as they come.
type profileForm struct {
	DisplayName, Phone string
	Address            address
}

// profileOf fills the form from the account as the API keeps it.
func profileOf(u me) profileForm {
	f := profileForm{DisplayName: u.DisplayName}
	if u.Phone != nil {
		f.Phone = *u.Phone
	}
	if u.ShippingAddress != nil {
		f.Address = *u.ShippingAddress
	}
	return f
}

// readProfile reads the profile form as the person typed it, trimmed.
func readProfile(r *http.Request) profileForm {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	a := func(k string) string { return f("shipping_address." + k) }
	return profileForm{DisplayName: f("display_name"), Phone: f("phone"),
		Address: address{Name: a("name"), Line1: a("line1"), Line2: a("line2"), City: a("city"), Region: a("region"),
			PostalCode: a("postal_code"), Country: strings.ToUpper(a("country"))}}
}

// patch is the PATCH /v1/users/me body that makes the profile the form:
// an empty phone or an address left wholly empty is removed (null), and
// the API judges the rest.
func (f profileForm) patch() map[string]any {
	body := map[string]any{"display_name": f.DisplayName, "phone": nil, "shipping_address": nil}
	if f.Phone != "" {
		body["phone"] = f.Phone
	}
	if f.Address != (address{}) {
		body["shipping_address"] = f.Address
	}
	return body
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return
	}
	var u me
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/users/me"}, &u); err != nil {
		h.fail(w, r, err)
		return
	}
	p := page{Title: "title.account", Data: accountData{User: u, Profile: profileOf(u), Language: u.pref("language"),
		Currency: preferredCurrency(u), Languages: languageChoices, Currencies: moneyfmt.Codes()}}
	switch r.URL.Query().Get("saved") {
	case "":
	case "profile":
		p.Notice = "notice.profile_saved"
	default:
		p.Notice = "notice.preferences_saved"
	}
	h.render(w, r, http.StatusOK, "account", p)
}

// saveProfile changes the display name, the phone and the shipping
// address. The API validates them: what it refuses (400
// validation_failed) comes back on the form, by field, as typed.
func (h *Handler) saveProfile(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return
	}
	f := readProfile(r)
	_, err := v.call(call{method: http.MethodPatch, path: "/v1/users/me", body: f.patch()}, nil)
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && len(e.Errors) > 0 {
		var u me
		if _, err := v.call(call{method: http.MethodGet, path: "/v1/users/me"}, &u); err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, r, http.StatusBadRequest, "account", page{Title: "title.account", Error: "err.fields", Fields: e.Errors,
			Data: accountData{User: u, Profile: f, Language: u.pref("language"), Currency: preferredCurrency(u),
				Languages: languageChoices, Currencies: moneyfmt.Codes()}})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?saved=profile", http.StatusSeeOther)
}

// preferredCurrency is the currency of u's preferences, EUR by default.
func preferredCurrency(u me) string {
	if c := u.pref("currency"); c != "" {
		return c
	}
	return "EUR"
}

// savePreferences keeps the language and currency in the account's
// preferences (the other members the preferences hold stay as they are),
// and the language in the session, where every page reads it.
func (h *Handler) savePreferences(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return
	}
	lang, cur := r.PostFormValue("language"), r.PostFormValue("currency")
	bad := map[string]string{}
	if lang != "" && !slices.Contains(languages, lang) {
		bad["language"] = "field.language"
	}
	if !moneyfmt.Known(cur) {
		bad["currency"] = "field.currency"
	}
	var u me
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/users/me"}, &u); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(bad) > 0 {
		h.render(w, r, http.StatusBadRequest, "account", page{Title: "title.account", Error: "err.fields", Fields: bad,
			Data: accountData{User: u, Profile: profileOf(u), Language: lang, Currency: cur, Languages: languageChoices, Currencies: moneyfmt.Codes()}})
		return
	}
	prefs := map[string]any{}
	for k, val := range u.Preferences {
		prefs[k] = val
	}
	prefs["currency"] = cur
	if lang == "" {
		delete(prefs, "language")
	} else {
		prefs["language"] = lang
	}
	if _, err := v.call(call{method: http.MethodPatch, path: "/v1/users/me", body: map[string]any{"preferences": prefs}}, nil); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := v.setLanguage(lang); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?saved=1", http.StatusSeeOther)
}
