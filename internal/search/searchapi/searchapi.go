// Package searchapi is the HTTP transport of the search service: the
// public listing and search of products (GET /v1/products, the same
// parameters and answer as the products service gave), autocomplete (GET
// /v1/search/suggest), and an internal reindex that reports its progress.
package searchapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/search"
)

// API serves the search endpoints.
type API struct {
	svc      *search.Service
	verifier *auth.Verifier
	log      *slog.Logger
	respond  auth.Responder
}

// New returns the API.
func New(svc *search.Service, verifier *auth.Verifier, log *slog.Logger) *API {
	return &API{svc: svc, verifier: verifier, log: log, respond: auth.NewResponder(verifier, log)}
}

// Routes registers every endpoint on rt.
func (a *API) Routes(rt *httpx.Router) {
	rt.HandleFunc("GET /v1/products", a.list)
	rt.HandleFunc("GET /v1/search/suggest", a.suggest)
	// The gateway routes no /internal path: reindexing is for operators
	// (marketplace reindex) reaching the service directly.
	rt.HandleFunc("POST /internal/v1/search/reindex", a.reindex)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	c, err := a.verifier.OptionalFromRequest(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	page, err := a.svc.List(r.Context(), c, q)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, page)
}

func (a *API) suggest(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	fields := map[string]string{}
	for name, vals := range v {
		if name != "q" && name != "limit" {
			fields[name] = "is not a parameter of suggest"
		} else if len(vals) > 1 {
			fields[name] = "may be given once"
		}
	}
	limit := search.DefaultSuggestions
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			n = -1
		}
		limit = n
	}
	if len(fields) > 0 {
		a.respond.Fail(w, r, errs.Validation(fields))
		return
	}
	list, err := a.svc.Suggest(r.Context(), v.Get("q"), limit)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"suggestions": list})
}

// reindex reads the whole catalog into the index, answering with one JSON
// line of progress per batch read (application/x-ndjson) and a last line
// with "done": true, or "error".
func (a *API) reindex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	line := func(v any) {
		_ = enc.Encode(v)
		if flusher != nil {
			flusher.Flush()
		}
	}
	p, err := a.svc.CatchUp(r.Context(), func(p search.Progress) { line(p) })
	if err != nil {
		a.log.WarnContext(r.Context(), "search: reindex failed", "err", err)
		msg := "the reindex failed; see the search service's log"
		if e, ok := errs.As(err); ok {
			msg = e.Message
		}
		line(map[string]any{"done": false, "error": msg, "read": p.Read, "total": p.Total, "indexed": p.Indexed})
		return
	}
	line(map[string]any{"done": true, "read": p.Read, "total": p.Total, "indexed": p.Indexed})
}
