// Package userapi is the HTTP transport of the users service: it decodes
// requests, calls the users.Service and encodes answers. Rules live in the
// service; this package only speaks HTTP.
package userapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/tokens"
)

// API serves the users endpoints.
type API struct {
	svc            *users.Service
	issuer         *tokens.Issuer
	respond        auth.Responder
	trustedProxies []netip.Prefix
}

// New returns the API.
func New(svc *users.Service, issuer *tokens.Issuer, verifier *auth.Verifier, log *slog.Logger, trustedProxies []netip.Prefix) *API {
	return &API{svc: svc, issuer: issuer, respond: auth.NewResponder(verifier, log), trustedProxies: trustedProxies}
}

// Routes registers every endpoint on rt.
func (a *API) Routes(rt *httpx.Router) {
	rt.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	rt.HandleFunc("POST /v1/auth/register", a.register)
	rt.HandleFunc("POST /v1/auth/login", a.login)
	rt.HandleFunc("POST /v1/auth/refresh", a.refresh)
	rt.HandleFunc("POST /v1/auth/logout", a.logout)
	rt.HandleFunc("POST /v1/auth/logout-all", a.respond.Authed(a.logoutAll))
	rt.HandleFunc("POST /v1/auth/password-reset", a.requestReset)
	rt.HandleFunc("POST /v1/auth/password-reset/confirm", a.confirmReset)
	rt.HandleFunc("GET /v1/users/me", a.respond.Authed(a.me))
	rt.HandleFunc("GET /v1/users/{id}/shop", a.shop)
	rt.HandleFunc("PATCH /v1/users/me", a.respond.Authed(a.updateMe))
	rt.HandleFunc("POST /v1/users/me/password", a.respond.Authed(a.changePassword))
	rt.HandleFunc("POST /v1/users/me/seller", a.respond.Authed(a.becomeSeller))
	rt.HandleFunc("PUT /v1/users/me/shop", a.respond.Authed(a.renameShop))
	rt.HandleFunc("GET /internal/v1/shops", a.shopsChanged)
	rt.HandleFunc("GET /v1/admin/users", a.respond.Authed(a.listUsers))
	rt.HandleFunc("GET /v1/admin/users/{id}", a.respond.Authed(a.getUser))
	rt.HandleFunc("PUT /v1/admin/users/{id}/roles/{role}", a.respond.Authed(a.grantRole))
	rt.HandleFunc("DELETE /v1/admin/users/{id}/roles/{role}", a.respond.Authed(a.revokeRole))
	rt.HandleFunc("POST /v1/admin/users/{id}/disable", a.respond.Authed(a.disable))
	rt.HandleFunc("POST /v1/admin/users/{id}/enable", a.respond.Authed(a.enable))
}

func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.JSON(w, http.StatusOK, a.issuer.PublicKeys())
}

// userJSON is a user as the API shows it to the user or to an admin.
type userJSON struct {
	ID              uuid.UUID       `json:"id"`
	Email           string          `json:"email"`
	DisplayName     string          `json:"display_name"`
	Roles           []string        `json:"roles"`
	Disabled        bool            `json:"disabled"`
	Phone           *string         `json:"phone"`
	ShippingAddress *users.Address  `json:"shipping_address"`
	Preferences     json.RawMessage `json:"preferences"`
	ShopName        *string         `json:"shop_name"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

func toJSON(u users.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Roles: u.Roles, Disabled: u.Disabled,
		Phone: nonEmpty(u.Phone), ShippingAddress: u.Address, Preferences: u.Preferences, ShopName: nonEmpty(u.ShopName),
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func pathID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, errs.New(errs.NotFound, "user_not_found", "no such user")
	}
	return id, nil
}
