package storefront

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	moneyfmt "github.com/marketplace-go/marketplace/internal/platform/money"
)

// The seller centre: a seller's shop, products (drafts included), stock
// and the sub-orders to fulfil. Every action is a plain form; the API
// decides who may do what (a seller's products only, If-Match on every
// change of a product).

// sellerProduct is a product as its seller sees it: with its version,
// which every change sends back as If-Match.
type sellerProduct struct {
	product
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// stock is a product's stock as the orders service keeps it.
type stock struct {
	OnHand    int64 `json:"on_hand"`
	Reserved  int64 `json:"reserved"`
	Available int64 `json:"available"`
}

// subOrder is one seller's part of an order, as the buyer's order and the
// seller centre both show it.
type subOrder struct {
	ID             string    `json:"id"`
	OrderID        string    `json:"order_id"`
	Status         string    `json:"status"`
	Subtotal       money     `json:"subtotal"`
	TrackingNumber string    `json:"tracking_number"`
	CreatedAt      time.Time `json:"created_at"`
	History        []change  `json:"history"`
	// ShippingAddress is where the seller sends this part; the API gives
	// it to the sub-order's seller only.
	ShippingAddress *address `json:"shipping_address"`
	Lines           []struct {
		ProductID string `json:"product_id"`
		Title     string `json:"title"`
		UnitPrice money  `json:"unit_price"`
		Quantity  int    `json:"quantity"`
	} `json:"lines"`
}

// seller starts a seller centre page: the visitor must be signed in,
// and the session's token must carry the roles the account has now (a
// shop just opened, or the seller role an admin granted, shows in the
// token only after a refresh). It returns the account, and false when it
// has answered already.
func (h *Handler) seller(w http.ResponseWriter, r *http.Request) (*visitor, me, bool) {
	v := h.visitor(w, r)
	if v.sess == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil, me{}, false
	}
	var u me
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/users/me"}, &u); err != nil {
		h.fail(w, r, err)
		return nil, me{}, false
	}
	if slices.Contains(u.Roles, "seller") && !slices.Contains(v.sess.roles(), "seller") {
		if err := v.refresh(); err != nil {
			h.fail(w, r, err)
			return nil, me{}, false
		}
	}
	return v, u, true
}

func isSeller(u me) bool {
	return slices.Contains(u.Roles, "seller") || slices.Contains(u.Roles, "admin")
}

// sellerHome is the shop's products, drafts and archived ones included,
// or the form that opens a shop.
func (h *Handler) sellerHome(w http.ResponseWriter, r *http.Request) {
	v, u, ok := h.seller(w, r)
	if !ok {
		return
	}
	if !isSeller(u) {
		h.render(w, r, http.StatusOK, "seller-open", page{Title: "title.seller_open", Data: form{}})
		return
	}
	q := url.Values{"seller": {u.ID}, "sort": {"newest"}, "limit": {"50"}}
	if c := r.URL.Query().Get("cursor"); c != "" {
		q.Set("cursor", c)
	}
	var list struct {
		Items      []sellerProduct `json:"items"`
		NextCursor string          `json:"next_cursor"`
	}
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/products?" + q.Encode()}, &list); err != nil {
		if isAPI(err, http.StatusBadRequest, "") {
			http.Redirect(w, r, "/seller", http.StatusSeeOther)
			return
		}
		h.fail(w, r, err)
		return
	}
	data := map[string]any{"User": u, "Products": list.Items}
	if list.NextCursor != "" {
		data["Next"] = "/seller?cursor=" + url.QueryEscape(list.NextCursor)
	}
	h.render(w, r, http.StatusOK, "seller", page{Title: "title.seller", Notice: notice(r), Data: data})
}

// notices are the good news a redirect may name (?notice=...).
var notices = map[string]string{
	"shop": "notice.shop_opened", "created": "notice.product_created", "saved": "notice.product_saved",
	"published": "notice.product_published", "unpublished": "notice.product_unpublished",
	"archived": "notice.product_archived", "stock": "notice.stock_saved", "shipped": "notice.shipped",
	"delivered": "notice.delivered", "granted": "notice.role_granted", "revoked": "notice.role_revoked",
	"disabled": "notice.user_disabled", "enabled": "notice.user_enabled", "category": "notice.category_saved",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("notice")] }

func (h *Handler) openShop(w http.ResponseWriter, r *http.Request) {
	v, _, ok := h.seller(w, r)
	if !ok {
		return
	}
	f := form{Name: strings.TrimSpace(r.PostFormValue("shop_name"))}
	_, err := v.call(call{method: http.MethodPost, path: "/v1/users/me/seller", body: map[string]string{"shop_name": f.Name}}, nil)
	if err == nil {
		// The token carries the seller role only once refreshed.
		err = v.refresh()
	}
	if err != nil {
		h.formFailed(w, r, "seller-open", "title.seller_open", f, err)
		return
	}
	http.Redirect(w, r, "/seller?notice=shop", http.StatusSeeOther)
}

// productForm is the create and edit form's values, as the person typed
// them.
type productForm struct {
	ID, Title, Description, Category, Price, Currency, Status string
	Version                                                   int
	// Attributes are the attribute inputs: the facets of the category
	// and its ancestors, and any other attribute the product has.
	Attributes []attributeInput
	Categories []category
	// Current is the product as it is now, when a stale edit was refused.
	Current *sellerProduct
	Stock   *stock
}

type attributeInput struct{ Name, Value string }

// facetsOf are the facets of category id and of its ancestors.
func facetsOf(cats []category, id string) []string {
	var out []string
	for seen := 0; id != "" && seen < len(cats); seen++ {
		i := slices.IndexFunc(cats, func(c category) bool { return c.ID == id })
		if i < 0 {
			break
		}
		for _, f := range cats[i].Facets {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
		id = cats[i].Parent
	}
	return out
}

// withAttributes fills f's attribute inputs: the category's facets and
// the product's other attributes, with the values given.
func (f *productForm) withAttributes(values map[string]string) {
	names := facetsOf(f.Categories, f.Category)
	for k := range values {
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	f.Attributes = f.Attributes[:0]
	for _, n := range names {
		f.Attributes = append(f.Attributes, attributeInput{Name: n, Value: values[n]})
	}
}

func (h *Handler) newProduct(w http.ResponseWriter, r *http.Request) {
	v, u, ok := h.seller(w, r)
	if !ok {
		return
	}
	if !isSeller(u) {
		http.Redirect(w, r, "/seller", http.StatusSeeOther)
		return
	}
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := productForm{Category: r.URL.Query().Get("category"), Currency: preferredCurrency(u), Status: "draft", Categories: cats}
	if !slices.ContainsFunc(cats, func(c category) bool { return c.ID == f.Category }) {
		f.Category = ""
	}
	f.withAttributes(nil)
	h.render(w, r, http.StatusOK, "seller-product", page{Title: "title.product_new", Data: f})
}

var attrName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// readProduct reads the form: the product's members for the API, the
// form as typed, and what is wrong with it by field.
func readProduct(r *http.Request, cats []category) (map[string]any, productForm, map[string]string) {
	f := productForm{Title: strings.TrimSpace(r.PostFormValue("title")), Description: strings.TrimSpace(r.PostFormValue("description")),
		Category: r.PostFormValue("category"), Price: strings.TrimSpace(r.PostFormValue("price")),
		Currency: r.PostFormValue("currency"), Status: r.PostFormValue("status"), Categories: cats}
	f.Version, _ = strconv.Atoi(r.PostFormValue("version"))
	bad := map[string]string{}
	body := map[string]any{"title": f.Title, "description": f.Description, "category": f.Category}
	if amount, ok := parsePrice(f.Price, f.Currency); ok {
		body["price"] = map[string]any{"amount": amount, "currency": f.Currency}
	} else {
		bad["price"] = "field.amount"
	}
	typed := map[string]string{}
	attrs := map[string]any{}
	for k, vs := range r.PostForm {
		name, ok := strings.CutPrefix(k, "attr.")
		if !ok {
			continue
		}
		val := strings.TrimSpace(vs[0])
		if !attrName.MatchString(name) {
			bad["attributes"] = "field.attribute_name"
			continue
		}
		typed[name] = val
		if val != "" {
			attrs[name] = attributeValue(val)
		}
	}
	if n := strings.TrimSpace(r.PostFormValue("new_attr_name")); n != "" {
		if attrName.MatchString(n) {
			typed[n] = strings.TrimSpace(r.PostFormValue("new_attr_value"))
			if typed[n] != "" {
				attrs[n] = attributeValue(typed[n])
			}
		} else {
			bad["new_attr_name"] = "field.attribute_name"
		}
	}
	body["attributes"] = attrs
	f.withAttributes(typed)
	return body, f, bad
}

// parsePrice reads a typed price as minor units of currency.
func parsePrice(s, currency string) (int64, bool) {
	a, ok := parseAmount(s)
	if !ok {
		return 0, false
	}
	if moneyfmt.Digits(currency) == 0 {
		return a / 100, a%100 == 0
	}
	return a, true
}

// typedPrice is an amount as the price input shows it.
func typedPrice(m money) string {
	if moneyfmt.Digits(m.Currency) == 0 {
		return strconv.FormatInt(m.Amount, 10)
	}
	return fmt.Sprintf("%d.%02d", m.Amount/100, m.Amount%100)
}

var number = regexp.MustCompile(`^-?[0-9]{1,15}(\.[0-9]{1,6})?$`)

// attributeValue is a typed attribute as the API keeps it: true and
// false as booleans, numbers as numbers, anything else as text, so that
// the listing's filters (attr.wattage.max=40) work on them.
func attributeValue(s string) any {
	switch {
	case s == "true" || s == "false":
		return s == "true"
	case number.MatchString(s):
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	return s
}

// apiFields are the API's field errors under the form's names.
func apiFields(e *apiError) map[string]string {
	out := map[string]string{}
	for k, msg := range e.Errors {
		switch {
		case strings.HasPrefix(k, "price"):
			k = "price"
		case strings.HasPrefix(k, "attributes."):
			k = "attr." + strings.TrimPrefix(k, "attributes.")
		}
		out[k] = msg
	}
	return out
}

func (h *Handler) createProduct(w http.ResponseWriter, r *http.Request) {
	v, _, ok := h.seller(w, r)
	if !ok {
		return
	}
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, f, bad := readProduct(r, cats)
	if f.Status != "active" {
		f.Status = "draft"
	}
	body["status"] = f.Status
	again := func(status int, msg string, fields map[string]string) {
		h.render(w, r, status, "seller-product", page{Title: "title.product_new", Error: msg, Fields: fields, Data: f})
	}
	if len(bad) > 0 {
		again(http.StatusBadRequest, "err.fields", bad)
		return
	}
	var p sellerProduct
	if _, err := v.call(call{method: http.MethodPost, path: "/v1/products", body: body}, &p); err != nil {
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusBadRequest {
			again(http.StatusBadRequest, "err.fields", apiFields(e))
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/seller/products/"+url.PathEscape(p.ID)+"?notice=created", http.StatusSeeOther)
}

// loadProduct reads the seller's product id and its stock.
func (h *Handler) loadProduct(v *visitor, id string) (sellerProduct, *stock, error) {
	var p sellerProduct
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/products/" + url.PathEscape(id)}, &p); err != nil {
		return p, nil, err
	}
	var s stock
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/stock/" + url.PathEscape(id)}, &s); err != nil {
		// Stock belongs to another service: the product can be edited
		// while it does not answer.
		return p, nil, nil
	}
	return p, &s, nil
}

// editForm is the form for p as it is.
func editForm(p sellerProduct, cats []category) productForm {
	f := productForm{ID: p.ID, Title: p.Title, Description: p.Description, Category: p.Category, Price: typedPrice(p.Price),
		Currency: p.Price.Currency, Status: p.Status, Version: p.Version, Categories: cats}
	values := map[string]string{}
	for k, val := range p.Attributes {
		values[k] = fmt.Sprint(val)
	}
	f.withAttributes(values)
	return f
}

func (h *Handler) editProduct(w http.ResponseWriter, r *http.Request) {
	v, _, ok := h.seller(w, r)
	if !ok {
		return
	}
	h.showProduct(w, r, v, http.StatusOK, notice(r), "", nil)
}

// showProduct renders the edit page of the product in the path as it is
// now, with msg as its error.
func (h *Handler) showProduct(w http.ResponseWriter, r *http.Request, v *visitor, status int, note, msg string, fields map[string]string) {
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, s, err := h.loadProduct(v, r.PathValue("id"))
	if err != nil {
		h.productFailed(w, r, err)
		return
	}
	f := editForm(p, cats)
	f.Stock = s
	h.render(w, r, status, "seller-product", page{Title: "title.product_edit", Notice: note, Error: msg, Fields: fields, Data: f})
}

// productFailed shows what the API refused about a product.
func (h *Handler) productFailed(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(err, http.StatusBadRequest, "") || isAPI(err, http.StatusNotFound, "") {
		h.notFound(w, r)
		return
	}
	h.fail(w, r, err)
}

// ifMatch is the If-Match header of the form's version.
func ifMatch(r *http.Request) ([]string, bool) {
	n, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil || n < 1 {
		return nil, false
	}
	return []string{"If-Match", `"` + strconv.Itoa(n) + `"`}, true
}

// updateProduct saves the edit form with the version it was made from.
// When the product changed meanwhile (someone else's edit, another tab),
// the API refuses it (412) and the page shows both: the product as it is
// now, and the form as the person typed it, with the new version, so that
// saving again is a choice made knowing the other change.
func (h *Handler) updateProduct(w http.ResponseWriter, r *http.Request) {
	v, _, ok := h.seller(w, r)
	if !ok {
		return
	}
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, f, bad := readProduct(r, cats)
	f.ID = r.PathValue("id")
	hdr, ok := ifMatch(r)
	if !ok {
		h.problem(w, r, http.StatusBadRequest, "err.form_expired")
		return
	}
	if f.Status == "draft" || f.Status == "active" {
		body["status"] = f.Status
	}
	again := func(status int, msg string, fields map[string]string) {
		_, f.Stock, _ = h.loadProduct(v, f.ID)
		h.render(w, r, status, "seller-product", page{Title: "title.product_edit", Error: msg, Fields: fields, Data: f})
	}
	if len(bad) > 0 {
		again(http.StatusBadRequest, "err.fields", bad)
		return
	}
	_, err = v.call(call{method: http.MethodPatch, path: "/v1/products/" + url.PathEscape(f.ID), body: body, hdr: hdr}, nil)
	var e *apiError
	switch {
	case err == nil:
		http.Redirect(w, r, "/seller/products/"+url.PathEscape(f.ID)+"?notice=saved", http.StatusSeeOther)
	case isAPI(err, http.StatusPreconditionFailed, ""):
		cur, _, lerr := h.loadProduct(v, f.ID)
		if lerr != nil {
			h.productFailed(w, r, lerr)
			return
		}
		f.Current, f.Version = &cur, cur.Version
		again(http.StatusConflict, "err.stale_version", nil)
	case errors.As(err, &e) && e.Status == http.StatusBadRequest:
		again(http.StatusBadRequest, "err.fields", apiFields(e))
	case errors.As(err, &e) && e.Status == http.StatusConflict:
		again(http.StatusConflict, h.sentence(r, e), nil)
	default:
		h.productFailed(w, r, err)
	}
}

// productAction publishes, unpublishes or archives the product in the
// path, at the form's version.
func (h *Handler) productAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, _, ok := h.seller(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		hdr, ok := ifMatch(r)
		if !ok {
			h.problem(w, r, http.StatusBadRequest, "err.form_expired")
			return
		}
		c := call{method: http.MethodPatch, path: "/v1/products/" + url.PathEscape(id), hdr: hdr}
		switch action {
		case "published":
			c.body = map[string]string{"status": "active"}
		case "unpublished":
			c.body = map[string]string{"status": "draft"}
		case "archived":
			c = call{method: http.MethodPost, path: "/v1/products/" + url.PathEscape(id) + "/archive", hdr: hdr}
		}
		_, err := v.call(c, nil)
		h.productChanged(w, r, v, id, action, err)
	}
}

// productChanged answers a change to product id: back to its page with
// notice when the API took it, the page with the API's reason when it
// refused it (a stale version, a conflict, a bad value).
func (h *Handler) productChanged(w http.ResponseWriter, r *http.Request, v *visitor, id, notice string, err error) {
	var e *apiError
	switch {
	case err == nil:
		http.Redirect(w, r, "/seller/products/"+url.PathEscape(id)+"?notice="+notice, http.StatusSeeOther)
	case isAPI(err, http.StatusPreconditionFailed, ""):
		h.showProduct(w, r, v, http.StatusConflict, "", "err.stale_action", nil)
	case errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusBadRequest):
		h.showProduct(w, r, v, e.Status, "", h.sentence(r, e), nil)
	default:
		h.productFailed(w, r, err)
	}
}

// setStock sets how many units are on hand.
func (h *Handler) setStock(w http.ResponseWriter, r *http.Request) {
	v, _, ok := h.seller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("on_hand")), 10, 64)
	if err != nil || n < 0 || n > 1_000_000_000 {
		h.showProduct(w, r, v, http.StatusBadRequest, "", "err.fields", map[string]string{"on_hand": "field.on_hand"})
		return
	}
	_, err = v.call(call{method: http.MethodPut, path: "/v1/stock/" + url.PathEscape(id), body: map[string]int64{"on_hand": n}}, nil)
	h.productChanged(w, r, v, id, "stock", err)
}

// sellerOrders lists the sub-orders the visitor sells, newest first,
// with what can be done to each: ship a paid one, deliver a shipped one.
func (h *Handler) sellerOrders(w http.ResponseWriter, r *http.Request) {
	v, _, ok := h.seller(w, r)
	if !ok {
		return
	}
	h.showSellerOrders(w, r, v, http.StatusOK, "", nil)
}

func (h *Handler) showSellerOrders(w http.ResponseWriter, r *http.Request, v *visitor, status int, msg string, fields map[string]string) {
	path := "/v1/sub-orders?limit=20"
	if c := r.URL.Query().Get("cursor"); c != "" {
		path += "&cursor=" + url.QueryEscape(c)
	}
	var list struct {
		Items      []subOrder `json:"items"`
		NextCursor string     `json:"next_cursor"`
	}
	if _, err := v.call(call{method: http.MethodGet, path: path}, &list); err != nil {
		if isAPI(err, http.StatusBadRequest, "") {
			http.Redirect(w, r, "/seller/orders", http.StatusSeeOther)
			return
		}
		h.fail(w, r, err)
		return
	}
	data := map[string]any{"SubOrders": list.Items}
	if list.NextCursor != "" {
		data["Next"] = "/seller/orders?cursor=" + url.QueryEscape(list.NextCursor)
	}
	h.render(w, r, status, "seller-orders", page{Title: "title.seller_orders", Notice: notice(r), Error: msg, Fields: fields, Data: data})
}

// fulfil ships (with the tracking number typed) or delivers the
// sub-order in the path.
func (h *Handler) fulfil(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, _, ok := h.seller(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		c := call{method: http.MethodPost, path: "/v1/sub-orders/" + url.PathEscape(id) + "/deliver"}
		if action == "shipped" {
			tn := strings.TrimSpace(r.PostFormValue("tracking_number"))
			if tn == "" || len(tn) > 100 {
				h.showSellerOrders(w, r, v, http.StatusBadRequest, "err.fields", map[string]string{"tracking_number." + id: "field.tracking"})
				return
			}
			c = call{method: http.MethodPost, path: "/v1/sub-orders/" + url.PathEscape(id) + "/ship", body: map[string]string{"tracking_number": tn}}
		}
		_, err := v.call(c, nil)
		var e *apiError
		switch {
		case err == nil:
			http.Redirect(w, r, "/seller/orders?notice="+action, http.StatusSeeOther)
		case errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusBadRequest || e.Status == http.StatusNotFound):
			h.showSellerOrders(w, r, v, e.Status, h.sentence(r, e), nil)
		default:
			h.fail(w, r, err)
		}
	}
}
