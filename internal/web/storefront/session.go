package storefront

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	sessionCookie = "mp_session"
	csrfCookie    = "mp_csrf"
	csrfField     = "csrf_token"
	// sessionMaxAge bounds the cookie; the refresh token inside decides
	// how long the API session really lasts.
	sessionMaxAge = 30 * 24 * time.Hour
)

// session is what the session cookie carries: the API's tokens. The
// cookie is sealed (AES-GCM) so that the browser holds the tokens but can
// neither read nor change them, and HttpOnly so that no script sees it.
type session struct {
	Access  string `json:"a"`
	Refresh string `json:"r"`
	// Lang is the language of the account's preferences, read at log-in
	// and when they change, so that no page asks the API for it.
	Lang string `json:"l,omitempty"`
}

// claims are what the pages read of the access token: who the visitor
// is and the roles the token carries. The token is not verified here:
// the pages only choose which links to show by it, and the API, which
// verifies it, decides what the visitor may do.
type claims struct {
	Subject string   `json:"sub"`
	Roles   []string `json:"roles"`
}

func (s *session) claims() claims {
	var c claims
	parts := strings.Split(s.Access, ".")
	if len(parts) != 3 {
		return c
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		_ = json.Unmarshal(raw, &c)
	}
	return c
}

func (s *session) roles() []string { return s.claims().Roles }

// sealer seals and opens cookie values with the current key, and opens
// those sealed with older keys, so that keys can be rotated.
type sealer struct {
	keys []cipher.AEAD // the first seals
}

func newSealer(secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("storefront: no cookie key")
	}
	s := &sealer{}
	for _, k := range secrets {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("storefront: cookie key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("storefront: cookie key: %w", err)
		}
		s.keys = append(s.keys, aead)
	}
	return s, nil
}

// seal encrypts v for the cookie named name: the name is authenticated
// data, so a value cannot be moved to another cookie.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("storefront: seal %s: %w", name, err)
	}
	aead := s.keys[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("storefront: seal %s: %w", name, err)
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

// open decrypts a value seal made; false for anything else.
func (s *sealer) open(name, value string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return false
	}
	for _, aead := range s.keys {
		if len(raw) < aead.NonceSize() {
			continue
		}
		plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(name))
		if err == nil {
			return json.Unmarshal(plain, v) == nil
		}
	}
	return false
}

// secure says whether the browser reached us over TLS: directly, or
// through the gateway, which sets X-Forwarded-Proto.
func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func (h *Handler) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: secure(r), MaxAge: int(maxAge.Seconds())}
}

// loadSession reads the visitor's session; nil when signed out.
func (h *Handler) loadSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	var s session
	if !h.sealer.open(sessionCookie, c.Value, &s) || s.Refresh == "" {
		return nil
	}
	return &s
}

// saveSession writes s to the cookie, or removes it when s is nil.
func (h *Handler) saveSession(w http.ResponseWriter, r *http.Request, s *session) error {
	if s == nil {
		http.SetCookie(w, h.cookie(r, sessionCookie, "", -time.Second))
		replaceCookie(r, sessionCookie, "")
		return nil
	}
	v, err := h.sealer.seal(sessionCookie, s)
	if err != nil {
		return err
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, v, sessionMaxAge))
	replaceCookie(r, sessionCookie, v)
	return nil
}

// replaceCookie sets the cookie name of r itself to value ("" removes
// it), so that the rest of the request (the page it renders: its
// language, its links) sees the session the browser gets.
func replaceCookie(r *http.Request, name, value string) {
	kept := make([]string, 0, 4)
	for _, c := range r.Cookies() {
		if c.Name != name {
			kept = append(kept, c.String())
		}
	}
	if value != "" {
		kept = append(kept, (&http.Cookie{Name: name, Value: value}).String())
	}
	r.Header.Set("Cookie", strings.Join(kept, "; "))
}

// csrfToken returns the visitor's anti-forgery token, setting its cookie
// on first use. Every form carries it in a hidden field, and every POST
// must send the same value in both (a double-submit token): another site
// can make a browser post a form, but cannot read the cookie to fill the
// field.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	t := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, h.cookie(r, csrfCookie, t, sessionMaxAge))
	return t
}

// checkCSRF says whether a form POST carries the visitor's token.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) == 1
}
