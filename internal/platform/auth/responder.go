package auth

import (
	"log/slog"
	"net/http"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// Responder is what every API that takes bearer tokens answers with: one
// way to fail and one way to require a token, so no service writes its own.
type Responder struct {
	verifier *Verifier
	log      *slog.Logger
}

// NewResponder returns the Responder of an API whose tokens v verifies;
// log takes the errors that are ours (answered as a bare 500).
func NewResponder(v *Verifier, log *slog.Logger) Responder {
	return Responder{verifier: v, log: log}
}

// Fail answers with the problem err describes, and the RFC 6750 challenge
// when a token was missing or rejected.
func (rs Responder) Fail(w http.ResponseWriter, r *http.Request, err error) {
	SetChallenge(w, err)
	httpx.Error(w, r, rs.log, err)
}

// Authed wraps a handler that needs a verified access token; without one
// the request fails through Fail.
func (rs Responder) Authed(h func(http.ResponseWriter, *http.Request, Claims)) http.HandlerFunc {
	return rs.verifier.Require(rs.Fail, h)
}

// Reply writes v as JSON with status, or the problem err describes.
func (rs Responder) Reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		rs.Fail(w, r, err)
		return
	}
	httpx.JSON(w, status, v)
}
