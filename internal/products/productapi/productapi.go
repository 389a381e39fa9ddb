// Package productapi is the HTTP transport of the products service.
package productapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/products"
)

// maxBody caps product bodies: a description, ten image URLs and 4 KiB of
// attributes fit well within it.
const maxBody = 64 << 10

// API serves the catalog endpoints.
type API struct {
	svc      *products.Service
	verifier *auth.Verifier
	respond  auth.Responder
}

// New returns the API.
func New(svc *products.Service, verifier *auth.Verifier, log *slog.Logger) *API {
	return &API{svc: svc, verifier: verifier, respond: auth.NewResponder(verifier, log)}
}

// Routes registers every endpoint on rt.
func (a *API) Routes(rt *httpx.Router) {
	rt.HandleFunc("GET /v1/categories", a.categories)
	rt.HandleFunc("PUT /v1/categories/{id}", a.respond.Authed(a.putCategory))
	rt.HandleFunc("POST /v1/products", a.respond.Authed(a.create))
	rt.HandleFunc("GET /v1/products/{id}", a.get)
	rt.HandleFunc("PATCH /v1/products/{id}", a.respond.Authed(a.update))
	rt.HandleFunc("POST /v1/products/{id}/archive", a.respond.Authed(a.archive))
	// Internal reads for the search service's rebuild; the gateway routes
	// no /internal path.
	rt.HandleFunc("GET /internal/v1/products", a.export)
	rt.HandleFunc("GET /internal/v1/products/summary", a.summary)
}

// exportBatchTimeout bounds the writing of one batch of the export.
const exportBatchTimeout = time.Minute

// export streams the whole catalog as one JSON document, {"items": [...]},
// written as the store reads it: one pass over the collection, and memory
// for one batch. The status is sent before the first product, so an error
// after it aborts the response: the client sees a truncated document, never
// a short list taken for the whole. A large catalog takes longer than the
// server's write timeout, so each batch sets a new deadline: only a reader
// that stops reading is cut off.
func (a *API) export(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	const open = `{"items":[`
	started := false
	err := a.svc.Export(r.Context(), func(batch []products.Product) error {
		_ = rc.SetWriteDeadline(time.Now().Add(exportBatchTimeout)) // unsupported by a test recorder only
		for _, p := range batch {
			sep := ","
			if !started {
				sep, started = open, true
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
		_ = rc.Flush()
		return nil
	})
	switch {
	case err != nil && !started: // nothing sent yet: a proper problem
		a.respond.Fail(w, r, err)
		return
	case err != nil:
		panic(http.ErrAbortHandler)
	case !started:
		_, _ = io.WriteString(w, open)
	}
	_, _ = io.WriteString(w, "]}\n")
}

func (a *API) summary(w http.ResponseWriter, r *http.Request) {
	sum, err := a.svc.Summarise(r.Context())
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, sum)
}

// productBody is a product as clients send it. Pointers tell absent fields
// from zero values; seller, id, version and times are not fields at all, so
// a client cannot set them.
type productBody struct {
	Title       *string         `json:"title"`
	Description *string         `json:"description" text:"max=5000,multiline"`
	Category    *string         `json:"category"`
	Price       *products.Money `json:"price"`
	Images      *[]string       `json:"images" text:"max=2048"`
	Attributes  *map[string]any `json:"attributes"`
	Status      *string         `json:"status"`
}

// categoryBody is a category as clients send it; its id is the path's.
type categoryBody struct {
	Name   string   `json:"name"`
	Parent string   `json:"parent"`
	Facets []string `json:"facets"`
}

func decodeProduct(w http.ResponseWriter, r *http.Request) (productBody, error) {
	var b productBody
	if err := httpx.Decode(w, r, &b, maxBody); err != nil {
		return b, err
	}
	return b, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (a *API) create(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	b, err := decodeProduct(w, r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	if b.Price == nil {
		a.respond.Fail(w, r, errs.Validation(map[string]string{"price": "is required"}))
		return
	}
	p, err := a.svc.Create(r.Context(), c, products.Draft{Title: deref(b.Title), Description: deref(b.Description),
		Category: deref(b.Category), Price: *b.Price, Images: deref(b.Images), Attributes: deref(b.Attributes), Status: deref(b.Status)})
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/products/"+p.ID)
	writeProduct(w, http.StatusCreated, p)
}

func writeProduct(w http.ResponseWriter, status int, p products.Product) {
	w.Header().Set("ETag", etag(p.Version))
	httpx.JSON(w, status, p)
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	c, err := a.verifier.OptionalFromRequest(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.Get(r.Context(), c, r.PathValue("id"))
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	if r.Header.Get("If-None-Match") == etag(p.Version) {
		w.Header().Set("ETag", etag(p.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeProduct(w, http.StatusOK, p)
}

var (
	errNeedIfMatch = errs.New(errs.PreconditionRequired, "if_match_required",
		`send If-Match with the ETag of the version you read, such as If-Match: "3"`)
	errBadIfMatch = errs.New(errs.Invalid, "invalid_if_match", `If-Match must be one ETag such as "3"`)
)

// ifMatch reads the version a write is based on from If-Match.
func ifMatch(r *http.Request) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, errNeedIfMatch
	}
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || v < 1 || !strings.HasPrefix(h, `"`) || !strings.HasSuffix(h, `"`) {
		return 0, errBadIfMatch
	}
	return v, nil
}

func (a *API) update(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	version, err := ifMatch(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	b, err := decodeProduct(w, r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.Update(r.Context(), c, r.PathValue("id"), version, products.Patch{Title: b.Title, Description: b.Description,
		Category: b.Category, Price: b.Price, Images: b.Images, Attributes: b.Attributes, Status: b.Status})
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	writeProduct(w, http.StatusOK, p)
}

func (a *API) archive(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	version, err := ifMatch(r)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	p, err := a.svc.Archive(r.Context(), c, r.PathValue("id"), version)
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	writeProduct(w, http.StatusOK, p)
}

func (a *API) categories(w http.ResponseWriter, r *http.Request) {
	list, err := a.svc.Categories(r.Context())
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"categories": list})
}

func (a *API) putCategory(w http.ResponseWriter, r *http.Request, c auth.Claims) {
	var b categoryBody
	if err := httpx.Decode(w, r, &b, maxBody); err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	cat, created, err := a.svc.PutCategory(r.Context(), c, products.Category{ID: r.PathValue("id"), Name: b.Name, Parent: b.Parent, Facets: b.Facets})
	if err != nil {
		a.respond.Fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.JSON(w, status, cat)
}
