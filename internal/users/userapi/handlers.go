package userapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/page"
	"github.com/marketplace-go/marketplace/internal/users"
)

// The request bodies are named types so the fuzz test decodes each one.

// registerRequest is the body of POST /v1/auth/register.
type registerRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

// loginRequest is the body of POST /v1/auth/login.
type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// resetRequest is the body of POST /v1/auth/password-reset.
type resetRequest struct {
	Email string `json:"email"`
}

// confirmResetRequest is the body of POST /v1/auth/password-reset/confirm.
type confirmResetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

// profileRequest is the body of PATCH /v1/users/me: absent fields stay as they are.
type profileRequest struct {
	DisplayName     httpx.Optional[string]        `json:"display_name"`
	Phone           httpx.Optional[string]        `json:"phone"`
	ShippingAddress httpx.Optional[users.Address] `json:"shipping_address"`
	// A string of preferences may be as long as all of them
	// (users.MaxPreferences); that bound is the service's to check.
	Preferences httpx.Optional[json.RawMessage] `json:"preferences" text:"max=4096"`
}

// passwordRequest is the body of POST /v1/users/me/password.
type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// sellerRequest is the body of POST /v1/users/me/seller.
type sellerRequest struct {
	ShopName string `json:"shop_name"`
}

// decode reads a small JSON body; every users request fits in 16 KiB.
func (a *API) decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	if err := httpx.Decode(w, r, dst, 16<<10); err != nil {
		a.respond.Fail(w, r, err)
		return false
	}
	return true
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !a.decode(w, r, &req) {
		return
	}
	u, err := a.svc.Register(r.Context(), users.Registration{Email: req.Email, Password: req.Password, DisplayName: req.DisplayName})
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/users/me")
	w.Header().Set("Cache-Control", "no-store")
	httpx.JSON(w, http.StatusCreated, toJSON(u))
}

type tokensJSON struct {
	AccessToken      string    `json:"access_token"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        int       `json:"expires_in"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

func (a *API) sendTokens(w http.ResponseWriter, t users.Tokens) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.JSON(w, http.StatusOK, tokensJSON{AccessToken: t.AccessToken, TokenType: "Bearer",
		ExpiresIn: int(t.AccessExpiresAt.Sub(t.IssuedAt).Seconds()), RefreshToken: t.RefreshToken,
		RefreshExpiresAt: t.RefreshExpiresAt.UTC()})
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !a.decode(w, r, &req) {
		return
	}
	t, err := a.svc.Login(r.Context(), req.Email, req.Password, httpx.ClientKey(httpx.ClientIP(r, a.trustedProxies)))
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	a.sendTokens(w, t)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if !a.decode(w, r, &req) {
		return
	}
	t, err := a.svc.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	a.sendTokens(w, t)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if !a.decode(w, r, &req) {
		return
	}
	a.noContent(w, r, a.svc.Logout(r.Context(), req.RefreshToken))
}

func (a *API) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	u, err := a.svc.Profile(r.Context(), c)
	if err == nil {
		err = a.svc.LogoutEverywhere(r.Context(), u.ID)
	}
	a.noContent(w, r, err)
}

func (a *API) requestReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.svc.RequestPasswordReset(r.Context(), req.Email); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusAccepted, map[string]string{
		"status": "if an account uses this email, a reset link has been sent to it",
	})
}

func (a *API) confirmReset(w http.ResponseWriter, r *http.Request) {
	var req confirmResetRequest
	if !a.decode(w, r, &req) {
		return
	}
	a.noContent(w, r, a.svc.ConfirmPasswordReset(r.Context(), req.Token, req.NewPassword))
}

func (a *API) me(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	a.user(w, r, http.StatusOK)(a.svc.Profile(r.Context(), c))
}

// user returns a function that answers with a user or an error, so a
// handler can end in one line: a.user(w, r, 200)(a.svc.Something(...)).
func (a *API) user(w http.ResponseWriter, r *http.Request, status int) func(users.User, error) {
	return func(u users.User, err error) {
		if err != nil {
			a.respond.Fail(w, r, err)
			return
		}
		// A profile is personal: no shared cache may keep it.
		w.Header().Set("Cache-Control", "no-store")
		httpx.JSON(w, status, toJSON(u))
	}
}

func (a *API) updateMe(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var req profileRequest
	if !a.decode(w, r, &req) {
		return
	}
	var p users.ProfileUpdate
	if req.DisplayName.Set {
		p.DisplayName = &req.DisplayName.Value
	}
	if req.Phone.Set {
		p.Phone, p.ClearPhone = ptrUnlessNull(req.Phone)
	}
	if req.ShippingAddress.Set {
		p.Address, p.ClearAddress = ptrUnlessNull(req.ShippingAddress)
	}
	if req.Preferences.Set {
		p.Preferences = req.Preferences.Value
		if req.Preferences.Null {
			p.Preferences = json.RawMessage("{}")
		}
	}
	a.user(w, r, http.StatusOK)(a.svc.UpdateProfile(r.Context(), c, p))
}

func ptrUnlessNull[T any](o httpx.Optional[T]) (*T, bool) {
	if o.Null {
		return nil, true
	}
	return &o.Value, false
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var req passwordRequest
	if !a.decode(w, r, &req) {
		return
	}
	a.noContent(w, r, a.svc.ChangePassword(r.Context(), c, req.CurrentPassword, req.NewPassword))
}

func (a *API) becomeSeller(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var req sellerRequest
	if !a.decode(w, r, &req) {
		return
	}
	u, err := a.svc.BecomeSeller(r.Context(), c, req.ShopName)
	if err == nil {
		w.Header().Set("Location", "/v1/users/me")
	}
	a.user(w, r, http.StatusCreated)(u, err)
}

func (a *API) renameShop(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var req sellerRequest
	if !a.decode(w, r, &req) {
		return
	}
	a.user(w, r, http.StatusOK)(a.svc.RenameShop(r.Context(), c, req.ShopName))
}

// shopsChanged is the search service's read of the shops opened or
// renamed since its last read. It is internal: the gateway routes no
// /internal path.
func (a *API) shopsChanged(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			a.respond.Fail(w, r, errs.Validation(map[string]string{"since": "must be an RFC 3339 time"}))
			return
		}
		since = t.UTC()
	}
	limit, err := page.Limit(q.Get("limit"))
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.ShopsChanged(r.Context(), since, q.Get("cursor"), limit)
	a.respond.Reply(w, r, http.StatusOK, p, err)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	q := r.URL.Query()
	limit, err := page.Limit(q.Get("limit"))
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.ListUsers(r.Context(), c, q.Get("email"), q.Get("cursor"), limit)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	list := make([]userJSON, len(p.Items))
	for i, u := range p.Items {
		list[i] = toJSON(u)
	}
	// This list's shape predates the kit's page: users, and a
	// next_cursor that is null (not absent) on the last page.
	httpx.JSON(w, http.StatusOK, map[string]any{"users": list, "next_cursor": nonEmpty(p.Next)})
}

// onUser runs an admin action on the user named in the path.
func (a *API) onUser(w http.ResponseWriter, r *http.Request, do func(uuid.UUID) (users.User, error)) {
	id, err := pathID(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	a.user(w, r, http.StatusOK)(do(id))
}

// shop needs no token: a shop's name is as public as its products. An
// id that is no UUID is asked as the nil UUID, no account's, so that it
// gets the answer of a missing shop.
func (a *API) shop(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		id = uuid.Nil
	}
	sh, err := a.svc.Shop(r.Context(), id)
	a.respond.Reply(w, r, http.StatusOK, sh, err)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	a.onUser(w, r, func(id uuid.UUID) (users.User, error) { return a.svc.GetUser(r.Context(), c, id) })
}

func (a *API) grantRole(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	a.onUser(w, r, func(id uuid.UUID) (users.User, error) {
		return a.svc.SetRole(r.Context(), c, id, r.PathValue("role"), true)
	})
}

func (a *API) revokeRole(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	a.onUser(w, r, func(id uuid.UUID) (users.User, error) {
		return a.svc.SetRole(r.Context(), c, id, r.PathValue("role"), false)
	})
}

func (a *API) disable(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	a.onUser(w, r, func(id uuid.UUID) (users.User, error) { return a.svc.SetDisabled(r.Context(), c, id, true) })
}

func (a *API) enable(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	a.onUser(w, r, func(id uuid.UUID) (users.User, error) { return a.svc.SetDisabled(r.Context(), c, id, false) })
}
