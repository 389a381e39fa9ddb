package gateway

import (
	"net/http"

	"github.com/marketplace-go/marketplace/internal/gateway/ratelimit"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// Limits are the request rates the gateway allows. Every request counts
// against its caller's general limit: the user's when it carries a valid
// token, the client address's otherwise. Logins, password resets and
// checkouts count against a stricter class too.
type Limits struct {
	Anonymous     ratelimit.Limit // per client address
	User          ratelimit.Limit // per user
	Login         ratelimit.Limit // per client address
	PasswordReset ratelimit.Limit // per client address
	Checkout      ratelimit.Limit // per user
}

// The rate-limit classes, as they appear in keys and metrics.
const (
	classAnonymous     = "anonymous"
	classUser          = "user"
	classLogin         = "login"
	classPasswordReset = "password_reset"
	classCheckout      = "checkout"
)

// admit counts r against its limits and answers 429 when one is spent.
// Every answer carries the RateLimit headers of the tightest limit.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, claims *auth.Claims) bool {
	if g.deps.Limiter == nil {
		return true
	}
	client := httpx.ClientKey(httpx.ClientIP(r, g.cfg.TrustedProxies))
	class, key, lim := classAnonymous, client, g.cfg.Limits.Anonymous
	if claims != nil {
		class, key, lim = classUser, claims.UserID, g.cfg.Limits.User
	}
	res := g.deps.Limiter.Allow(r.Context(), class, key, lim)
	if strict, skey, slim := g.strictClass(r, client, key); res.Allowed && strict != "" {
		res = tighter(res, g.deps.Limiter.Allow(r.Context(), strict, skey, slim))
	}
	ratelimit.WriteHeaders(w.Header(), res)
	if res.Allowed {
		return true
	}
	httpx.Error(w, r, g.deps.Log, &errs.Error{Kind: errs.TooManyRequests, Code: "rate_limited",
		Message: "too many requests; try again later", RetryAfter: res.RetryAfter})
	return false
}

// strictClass names the stricter class r falls in, if any, with its key
// and limit: guessing passwords and reset codes is limited per address,
// checkouts (which reserve stock) per user.
func (g *Gateway) strictClass(r *http.Request, client, caller string) (string, string, ratelimit.Limit) {
	if r.Method != http.MethodPost {
		return "", "", ratelimit.Limit{}
	}
	switch r.URL.Path {
	case "/v1/auth/login":
		return classLogin, client, g.cfg.Limits.Login
	case "/v1/auth/password-reset", "/v1/auth/password-reset/confirm":
		return classPasswordReset, client, g.cfg.Limits.PasswordReset
	case "/v1/orders":
		return classCheckout, caller, g.cfg.Limits.Checkout
	}
	return "", "", ratelimit.Limit{}
}

// tighter returns the result a client should be shown: a refusal, or else
// the limit closest to being spent.
func tighter(a, b ratelimit.Result) ratelimit.Result {
	switch {
	case !b.Allowed || a.Limit.Rate == 0:
		return b
	case b.Limit.Rate == 0 || !a.Allowed:
		return a
	case b.Remaining < a.Remaining:
		return b
	}
	return a
}
