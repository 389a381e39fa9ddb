package storefront

import (
	"net/http"
)

// visitor is one request's caller of the API: the visitor's session, kept
// fresh. An access token lives minutes; when the API refuses it, the
// visitor's refresh token gets a new pair and the call is made again, so
// the browser never deals with tokens.
type visitor struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	sess *session
}

func (h *Handler) visitor(w http.ResponseWriter, r *http.Request) *visitor {
	return &visitor{h: h, w: w, r: r, sess: h.loadSession(r)}
}

// tokens is the API's answer to a log-in or a refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// call makes c as the visitor (anonymously when signed out). It must come
// before the page is written: a refresh sets the session cookie.
func (v *visitor) call(c call, out any) (http.Header, error) {
	if v.sess == nil {
		return v.h.do(v.r, c, out)
	}
	c.token = v.sess.Access
	hdr, err := v.h.do(v.r, c, out)
	if isAPI(err, http.StatusForbidden, "account_disabled") {
		// An admin disabled the account, which ended its API sessions:
		// the browser's ends with them.
		v.sess = nil
		_ = v.h.saveSession(v.w, v.r, nil)
		return hdr, err
	}
	if !isAPI(err, http.StatusUnauthorized, "") {
		return hdr, err
	}
	if rerr := v.refresh(); rerr != nil {
		return hdr, err
	}
	c.token = v.sess.Access
	return v.h.do(v.r, c, out)
}

// refresh trades the refresh token for new tokens. When the API session
// is over (logged out elsewhere, expired, the account disabled), the
// cookie goes too.
func (v *visitor) refresh() error {
	var t tokens
	_, err := v.h.do(v.r, call{method: http.MethodPost, path: "/v1/auth/refresh",
		body: map[string]string{"refresh_token": v.sess.Refresh}}, &t)
	if err != nil {
		if isAPI(err, http.StatusBadRequest, "") || isAPI(err, http.StatusUnauthorized, "") || isAPI(err, http.StatusForbidden, "") {
			v.sess = nil
			_ = v.h.saveSession(v.w, v.r, nil)
		}
		return err
	}
	return v.signIn(t)
}

// signIn keeps t as the visitor's session, in the language it had.
func (v *visitor) signIn(t tokens) error {
	lang := ""
	if v.sess != nil {
		lang = v.sess.Lang
	}
	v.sess = &session{Access: t.AccessToken, Refresh: t.RefreshToken, Lang: lang}
	return v.h.saveSession(v.w, v.r, v.sess)
}

// setLanguage keeps the language of the account's preferences in the
// session ("" for the browser's). The request's own cookie is changed
// too, so that the page rendered next in this request speaks it.
func (v *visitor) setLanguage(lang string) error {
	v.sess.Lang = lang
	return v.h.saveSession(v.w, v.r, v.sess)
}
