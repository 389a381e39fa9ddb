// Package storefront serves the marketplace's web pages for buyers. It
// renders HTML on the server and gets every piece of data from the public
// API through the gateway, as any client does: it has no store and knows
// no service's code. Every page's main action is a plain form; htmx, when
// the browser runs it, only spares full page loads.
package storefront

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// contentSecurityPolicy lets a page load only this server's own scripts,
// styles and images, and post forms only to it: no inline script, no
// third party.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Config is what the pages need.
type Config struct {
	// APIURL is the gateway's base URL.
	APIURL string
	// CookieKeys seal the session cookie (32 bytes each); the first seals,
	// all open, so a key can be rotated without signing everyone out.
	CookieKeys [][]byte
	// Timeout bounds each API call.
	Timeout time.Duration
	// Transport reaches the API; nil is http.DefaultTransport.
	Transport http.RoundTripper
}

// Handler serves the pages.
type Handler struct {
	api    *client
	sealer *sealer
	log    *slog.Logger
	cats   map[string]*catalogue
	pages  map[string]map[string]*template.Template // by language, then name
	static http.Handler
	origin *http.CrossOriginProtection
}

// New builds the pages' handler.
func New(cfg Config, log *slog.Logger) (*Handler, error) {
	s, err := newSealer(cfg.CookieKeys)
	if err != nil {
		return nil, err
	}
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	pages, err := parsePages(cats)
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("storefront: static files: %w", err)
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Handler{
		api:    newClient(cfg.APIURL, timeout, rt),
		sealer: s,
		log:    log,
		cats:   cats,
		pages:  pages,
		static: http.StripPrefix("/static/", http.FileServerFS(static)),
		origin: http.NewCrossOriginProtection(),
	}, nil
}

// Routes registers the pages. The gateway sends them every path that no
// API route takes.
func (h *Handler) Routes(rt *httpx.Router) {
	page := func(pattern string, f http.HandlerFunc) { rt.Handle(pattern, h.guard(f)) }
	rt.Handle("GET /static/", h.assets())
	page("GET /{$}", h.home)
	page("GET /search", h.search)
	page("GET /search/suggest", h.suggest)
	page("GET /products/{id}", h.product)
	page("GET /cart", h.cart)
	page("POST /cart/items/{id}", h.setQuantity)
	page("POST /cart/items/{id}/remove", h.removeLine)
	page("GET /checkout", h.checkoutForm)
	page("POST /checkout", h.checkout)
	page("GET /orders", h.orders)
	page("GET /orders/{id}", h.order)
	page("GET /login", h.loginForm)
	page("POST /login", h.login)
	page("GET /register", h.registerForm)
	page("POST /register", h.register)
	page("POST /logout", h.logout)
	page("GET /forgot-password", h.forgotForm)
	page("POST /forgot-password", h.forgot)
	page("GET /reset-password", h.resetForm)
	page("POST /reset-password", h.reset)
	page("GET /account", h.account)
	page("POST /account/preferences", h.savePreferences)
	page("POST /account/profile", h.saveProfile)
	page("GET /seller", h.sellerHome)
	page("POST /seller/shop", h.openShop)
	page("GET /seller/products/new", h.newProduct)
	page("POST /seller/products", h.createProduct)
	page("GET /seller/products/{id}", h.editProduct)
	page("POST /seller/products/{id}", h.updateProduct)
	page("POST /seller/products/{id}/publish", h.productAction("published"))
	page("POST /seller/products/{id}/unpublish", h.productAction("unpublished"))
	page("POST /seller/products/{id}/archive", h.productAction("archived"))
	page("POST /seller/products/{id}/stock", h.setStock)
	page("GET /seller/orders", h.sellerOrders)
	page("POST /seller/orders/{id}/ship", h.fulfil("shipped"))
	page("POST /seller/orders/{id}/deliver", h.fulfil("delivered"))
	page("GET /admin", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/admin/users", http.StatusSeeOther) })
	page("GET /admin/users", h.adminUsers)
	page("GET /admin/users/{id}", h.adminUser)
	page("POST /admin/users/{id}/roles/{role}", h.adminAction("granted"))
	page("POST /admin/users/{id}/roles/{role}/revoke", h.adminAction("revoked"))
	page("POST /admin/users/{id}/disable", h.adminAction("disabled"))
	page("POST /admin/users/{id}/enable", h.adminAction("enabled"))
	page("GET /admin/categories", h.adminCategories)
	page("POST /admin/categories", h.saveCategory)
	// API paths no service routes stay API answers, for API clients.
	for _, p := range []string{"/v1/", "/api/", "/.well-known/"} {
		rt.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteProblem(w, r, http.StatusNotFound, errs.New(errs.NotFound, "route_not_found", "no such endpoint"))
		}))
	}
	page("/", func(w http.ResponseWriter, r *http.Request) { h.notFound(w, r) })
}

// guard sets the page headers and refuses cross-site form posts: by the
// browser's Fetch metadata (Go's CrossOriginProtection), and, for browsers
// that send none, by the anti-forgery token every form carries.
func (h *Handler) guard(next http.HandlerFunc) http.Handler {
	checked := h.origin.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("Referrer-Policy", "same-origin")
		hdr.Set("Cache-Control", "no-store")
		hdr.Add("Vary", "Cookie")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				h.problem(w, r, http.StatusBadRequest, "err.form_unreadable")
				return
			}
			if !checkCSRF(r) {
				h.problem(w, r, http.StatusForbidden, "err.form_expired")
				return
			}
		}
		next(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Behind the gateway the browser's origin is the gateway's host,
		// which the gateway passes on; the check compares it with Host.
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			r.Host = fh
		}
		checked.ServeHTTP(w, r)
	})
}

// assets serves the vendored scripts and the style sheet. Their names do
// not change within a build, so browsers may keep them a day.
func (h *Handler) assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		h.static.ServeHTTP(w, r)
	})
}

// localPath returns next when it is a path of this site, else "/": a
// login form's next must not send the person to another site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// fail answers with a page a person can act on, for an error of the API
// or of the pages.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		h.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
		h.problem(w, r, http.StatusInternalServerError, "err.internal")
		return
	}
	switch {
	case e.Status == 0 || e.Status >= 500:
		h.log.WarnContext(r.Context(), "the API failed", "path", r.URL.Path, "err", err)
		h.problem(w, r, http.StatusServiceUnavailable, "err.unavailable")
	case e.Status == http.StatusUnauthorized:
		http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	case e.Status == http.StatusForbidden && e.Code == "account_disabled":
		http.Redirect(w, r, "/login?disabled=1", http.StatusSeeOther)
	case e.Status == http.StatusTooManyRequests:
		h.problem(w, r, http.StatusTooManyRequests, h.tooMany(r, e))
	case e.Status == http.StatusNotFound:
		h.notFound(w, r)
	default:
		h.problem(w, r, e.Status, h.sentence(r, e))
	}
}

// tooMany tells a rate-limited person when to come back.
func (h *Handler) tooMany(r *http.Request, e *apiError) string {
	if e.RetryAfter != "" {
		return h.t(r, "err.too_many_wait", e.RetryAfter)
	}
	return h.t(r, "err.too_many")
}

// sentence is the API's explanation of e, as a sentence for a person in
// r's language: the catalogue's message for the API's code (err.<code>),
// else the API's own detail.
func (h *Handler) sentence(r *http.Request, e *apiError) string {
	c := h.cats[h.lang(r)]
	if e.Code != "" {
		if msg, ok := c.msgs["err."+e.Code]; ok {
			return msg
		}
	}
	if e.Detail == "" {
		return c.text("err.generic")
	}
	d := strings.ToUpper(e.Detail[:1]) + e.Detail[1:]
	if !strings.HasSuffix(d, ".") {
		d += "."
	}
	return d
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, "notfound", page{Title: "title.notfound"})
}

// problem shows msg on the error page with status.
func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", page{Title: "title.sorry", Error: h.t(r, msg)})
}
