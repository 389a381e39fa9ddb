package storefront

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// The admin console: accounts (listed, searched by email; roles granted
// and revoked; disabled and enabled) and the category tree. The API
// checks the admin role on every call; the pages only show its answers.

// roleNames are the roles an admin may grant.
var roleNames = []string{"buyer", "seller", "admin"}

type userPage struct {
	Users      []me    `json:"users"`
	NextCursor *string `json:"next_cursor"`
}

// adminUsers lists accounts a page at a time, or those whose email holds
// the words searched for.
func (h *Handler) adminUsers(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("email")))
	data := map[string]any{"Email": email}
	q := url.Values{"limit": {"50"}}
	if email != "" {
		q.Set("email", email)
	}
	if cursor := r.URL.Query().Get("cursor"); cursor != "" {
		q.Set("cursor", cursor)
	}
	var p userPage
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/admin/users?" + q.Encode()}, &p); err != nil {
		if isAPI(err, http.StatusBadRequest, "") {
			http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
			return
		}
		h.fail(w, r, err)
		return
	}
	if p.NextCursor != nil && *p.NextCursor != "" {
		next := url.Values{"cursor": {*p.NextCursor}}
		if email != "" {
			next.Set("email", email)
		}
		data["Next"] = "/admin/users?" + next.Encode()
	}
	data["Users"] = p.Users
	h.render(w, r, http.StatusOK, "admin-users", page{Title: "title.admin_users", Data: data})
}

// adminUser is one account, with its roles and the actions on it.
func (h *Handler) adminUser(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	h.showUser(w, r, v, http.StatusOK, "")
}

func (h *Handler) showUser(w http.ResponseWriter, r *http.Request, v *visitor, status int, msg string) {
	var u me
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/admin/users/" + url.PathEscape(r.PathValue("id"))}, &u); err != nil {
		h.fail(w, r, err)
		return
	}
	self := v.sess != nil && v.sess.claims().Subject == u.ID
	h.render(w, r, status, "admin-user", page{Title: "title.admin_user", Notice: notice(r), Error: msg,
		Data: map[string]any{"User": u, "Roles": roleNames, "Self": self}})
}

// adminAction grants or revokes the role in the path, or disables or
// enables the account.
func (h *Handler) adminAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := h.visitor(w, r)
		if v.sess == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		id, role := r.PathValue("id"), r.PathValue("role")
		base := "/v1/admin/users/" + url.PathEscape(id)
		var c call
		switch action {
		case "granted":
			c = call{method: http.MethodPut, path: base + "/roles/" + url.PathEscape(role)}
		case "revoked":
			c = call{method: http.MethodDelete, path: base + "/roles/" + url.PathEscape(role)}
		case "disabled":
			c = call{method: http.MethodPost, path: base + "/disable"}
		case "enabled":
			c = call{method: http.MethodPost, path: base + "/enable"}
		}
		_, err := v.call(c, nil)
		var e *apiError
		switch {
		case err == nil:
			http.Redirect(w, r, "/admin/users/"+url.PathEscape(id)+"?notice="+action, http.StatusSeeOther)
		case errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusBadRequest):
			h.showUser(w, r, v, e.Status, h.sentence(r, e))
		default:
			h.fail(w, r, err)
		}
	}
}

// categoryForm is the category form's values.
type categoryForm struct {
	ID, Name, Parent, Facets string
}

// adminCategories shows the category tree with each category's facets,
// and the form that adds a category or changes one (?edit=<id>).
func (h *Handler) adminCategories(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/admin/categories", http.StatusSeeOther)
		return
	}
	var f categoryForm
	if id := r.URL.Query().Get("edit"); id != "" {
		f.ID = id
	}
	h.showCategories(w, r, v, http.StatusOK, f, "", nil)
}

func (h *Handler) showCategories(w http.ResponseWriter, r *http.Request, v *visitor, status int, f categoryForm, msg string, fields map[string]string) {
	if !slices.Contains(v.sess.roles(), "admin") {
		// Anyone may read the tree; only admins change it, and this page
		// is for changing it.
		h.problem(w, r, http.StatusForbidden, "err.admin_only")
		return
	}
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if i := slices.IndexFunc(cats, func(c category) bool { return c.ID == f.ID }); i >= 0 && f.Name == "" {
		c := cats[i]
		f = categoryForm{ID: c.ID, Name: c.Name, Parent: c.Parent, Facets: strings.Join(c.Facets, ", ")}
	}
	h.render(w, r, status, "admin-categories", page{Title: "title.admin_categories", Notice: notice(r), Error: msg, Fields: fields,
		Data: map[string]any{"Tree": tree(cats, ""), "Categories": cats, "Form": f}})
}

var slug = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// saveCategory creates the category named in the form, or replaces it.
func (h *Handler) saveCategory(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next=/admin/categories", http.StatusSeeOther)
		return
	}
	f := categoryForm{ID: strings.TrimSpace(r.PostFormValue("id")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Parent: r.PostFormValue("parent"), Facets: r.PostFormValue("facets")}
	facets := []string{}
	for _, s := range strings.Split(f.Facets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			facets = append(facets, s)
		}
	}
	if !slug.MatchString(f.ID) {
		h.showCategories(w, r, v, http.StatusBadRequest, f, "err.fields", map[string]string{"id": "field.slug"})
		return
	}
	_, err := v.call(call{method: http.MethodPut, path: "/v1/categories/" + url.PathEscape(f.ID),
		body: map[string]any{"name": f.Name, "parent": f.Parent, "facets": facets}}, nil)
	var e *apiError
	switch {
	case err == nil:
		http.Redirect(w, r, "/admin/categories?notice=category", http.StatusSeeOther)
	case errors.As(err, &e) && e.Status == http.StatusBadRequest:
		fields := map[string]string{}
		for k, msg := range e.Errors {
			if strings.HasPrefix(k, "facets") {
				k = "facets"
			}
			fields[k] = msg
		}
		h.showCategories(w, r, v, http.StatusBadRequest, f, "err.fields", fields)
	case errors.As(err, &e) && e.Status == http.StatusConflict:
		h.showCategories(w, r, v, http.StatusConflict, f, h.sentence(r, e), nil)
	default:
		h.fail(w, r, err)
	}
}
