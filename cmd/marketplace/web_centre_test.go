package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// TestWebSellerCentreAndAdminConsoleWithoutScripts drives the seller
// centre, the admin console and the preferences as a browser without
// JavaScript would, through the gateway of the whole platform in one
// process: every main action is a plain form.
func TestWebSellerCentreAndAdminConsoleWithoutScripts(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	gatewayAddr := freeAddr(t)
	getenv := testEnv(t, map[string]string{"GATEWAY_ADDR": gatewayAddr, "WEB_API_URL": "http://" + gatewayAddr})
	if err := run(context.Background(), []string{"seed", "--products=12", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	base := "http://" + addrs["gateway"]
	untilListed(t, base)
	tag := uuid.NewString()[:8]
	seller, buyer, admin := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	sellerEmail, buyerEmail, adminEmail := "seller-"+tag+"@example.com", "buyer-"+tag+"@example.com", "admin-"+tag+"@example.com"
	for b, email := range map[*browser]string{seller: sellerEmail, buyer: buyerEmail, admin: adminEmail} {
		b.get(t, "/register", http.StatusOK)
		b.post(t, "/register", url.Values{"display_name": {"Web " + email[:5]}, "email": {email}, "password": {e2ePassword}}, http.StatusOK)
	}

	var productID, version string
	t.Run("a signed-in person opens a shop", func(t *testing.T) {
		seller.get(t, "/seller", http.StatusOK).want(t, `action="/seller/shop"`)
		res := seller.post(t, "/seller/shop", url.Values{"shop_name": {"Lamps " + tag}}, http.StatusOK)
		res.wantPath(t, "/seller")
		res.want(t, "Your shop is open", `href="/seller/products/new"`, "Seller centre")
	})
	t.Run("a second shop of the same account is refused on the form", func(t *testing.T) {
		seller.post(t, "/seller/shop", url.Values{"shop_name": {"Other " + tag}}, http.StatusConflict).want(t, "has a shop already")
	})
	t.Run("the new product form has an input for each facet of the category and its ancestors", func(t *testing.T) {
		res := seller.get(t, "/seller/products/new?category=lamps", http.StatusOK)
		res.want(t, `name="attr.colour"`, `name="attr.dimmable"`, `name="attr.brand"`, `name="attr.wattage"`)
	})
	t.Run("a price that is not an amount comes back on the form with what was typed", func(t *testing.T) {
		seller.post(t, "/seller/products", url.Values{"title": {"Web Lamp " + tag}, "category": {"lamps"}, "price": {"cheap"},
			"currency": {"EUR"}, "attr.colour": {"teal"}}, http.StatusBadRequest).want(t, "must be an amount", `value="teal"`)
	})
	t.Run("a draft is created with typed attributes", func(t *testing.T) {
		res := seller.post(t, "/seller/products", url.Values{"title": {"Web Lamp " + tag}, "category": {"lamps"}, "price": {"24.50"},
			"currency": {"EUR"}, "attr.colour": {"teal"}, "attr.dimmable": {"true"}, "attr.wattage": {"9"}, "status": {"draft"}}, http.StatusOK)
		res.want(t, "The product is created", `value="teal"`, `value="24.50"`, "draft")
		productID = strings.TrimPrefix(res.path, "/seller/products/")
		version = formVersion(t, res)
	})
	t.Run("the seller's list shows the draft", func(t *testing.T) {
		eventually.NoError(t, "the draft in the seller's list", func() error {
			if res := seller.get(t, "/seller", http.StatusOK); !strings.Contains(res.body, productID) {
				return fmt.Errorf("not listed yet")
			}
			return nil
		})
	})
	t.Run("buyers do not see the draft", func(t *testing.T) {
		buyer.get(t, "/products/"+productID, http.StatusNotFound)
	})
	t.Run("an edit saves at the version it was made from", func(t *testing.T) {
		res := seller.post(t, "/seller/products/"+productID, url.Values{"version": {version}, "title": {"Web Lamp " + tag}, "category": {"lamps"},
			"price": {"19.90"}, "currency": {"EUR"}, "attr.colour": {"teal"}, "attr.wattage": {"9"}}, http.StatusOK)
		res.want(t, "Your changes are saved", `value="19.90"`)
	})
	t.Run("a stale edit shows the conflict instead of overwriting", func(t *testing.T) {
		res := seller.post(t, "/seller/products/"+productID, url.Values{"version": {version}, "title": {"Stale Lamp " + tag}, "category": {"lamps"},
			"price": {"99.00"}, "currency": {"EUR"}}, http.StatusConflict)
		res.want(t, "Someone changed this product", `value="Stale Lamp `+tag+`"`, "€19.90")
		if got := formVersion(t, res); got == version {
			t.Errorf("the conflict's form still has version %s; saving again would fail again", got)
		}
		seller.get(t, "/seller/products/"+productID, http.StatusOK).want(t, `value="Web Lamp `+tag+`"`, `value="19.90"`)
	})
	t.Run("the seller stocks and publishes the product", func(t *testing.T) {
		seller.post(t, "/seller/products/"+productID+"/stock", url.Values{"on_hand": {"-1"}}, http.StatusBadRequest)
		seller.post(t, "/seller/products/"+productID+"/stock", url.Values{"on_hand": {"3"}}, http.StatusOK).want(t, "The stock is set", `value="3"`)
		res := seller.get(t, "/seller/products/"+productID, http.StatusOK)
		seller.post(t, "/seller/products/"+productID+"/publish", url.Values{"version": {formVersion(t, res)}}, http.StatusOK).want(t, "The product is on sale")
		buyer.get(t, "/products/"+productID, http.StatusOK).want(t, "Web Lamp "+tag, "teal")
	})

	var orderPath string
	t.Run("a buyer orders it and the seller ships and delivers the parcel", func(t *testing.T) {
		eventually.NoError(t, "the orders service to know the product", func() error {
			p := buyer.submit(t, "/cart/items/"+productID, url.Values{"quantity": {"1"}})
			if p.path != "/cart" {
				return fmt.Errorf("adding to the cart answered %d at %s", p.status, p.path)
			}
			return nil
		})
		form := url.Values{"name": {"Web Buyer"}, "line1": {"Hauptstraße 1"}, "city": {"Berlin"}, "postal_code": {"10115"},
			"country": {"DE"}, "idempotency_key": {buyer.checkoutKey(t)}, "payment_method": {"pm_card_visa"}}
		res := buyer.post(t, "/checkout", form, http.StatusOK)
		res.want(t, "your order is paid")
		orderPath = res.path
		list := seller.get(t, "/seller/orders", http.StatusOK)
		list.want(t, "Ship to", "Hauptstraße 1", "10115 Berlin")
		m := regexp.MustCompile(`action="/seller/orders/([0-9a-f-]{36})/ship"`).FindStringSubmatch(list.body)
		if m == nil {
			t.Fatalf("no sub-order to ship: %s", list.body)
		}
		seller.post(t, "/seller/orders/"+m[1]+"/ship", url.Values{"tracking_number": {""}}, http.StatusBadRequest).want(t, "tracking number")
		seller.post(t, "/seller/orders/"+m[1]+"/ship", url.Values{"tracking_number": {"1Z" + tag}}, http.StatusOK).want(t, "marked shipped", "1Z"+tag)
		buyer.get(t, orderPath, http.StatusOK).want(t, `data-status="shipped"`, "1Z"+tag)
		seller.post(t, "/seller/orders/"+m[1]+"/deliver", url.Values{}, http.StatusOK).want(t, "marked delivered")
		seller.post(t, "/seller/orders/"+m[1]+"/deliver", url.Values{}, http.StatusConflict).want(t, "cannot be done")
		buyer.get(t, orderPath, http.StatusOK).want(t, `data-status="delivered"`)
	})
	t.Run("the seller archives the product for good", func(t *testing.T) {
		res := seller.get(t, "/seller/products/"+productID, http.StatusOK)
		seller.post(t, "/seller/products/"+productID+"/archive", url.Values{"version": {formVersion(t, res)}}, http.StatusOK).want(t, "The product is archived")
		buyer.get(t, "/products/"+productID, http.StatusNotFound)
	})

	t.Run("the admin console is for admins only", func(t *testing.T) {
		buyer.get(t, "/admin/users", http.StatusForbidden).want(t, "admins")
	})
	if err := run(context.Background(), []string{"grant-role", "--email=" + adminEmail, "--role=admin"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	admin.post(t, "/logout", url.Values{}, http.StatusOK)
	admin.post(t, "/login", url.Values{"email": {adminEmail}, "password": {e2ePassword}}, http.StatusOK).want(t, `href="/admin/users"`)
	var buyerID string
	t.Run("an admin finds an account by its email", func(t *testing.T) {
		res := admin.get(t, "/admin/users?email="+url.QueryEscape("BUYER-"+tag), http.StatusOK)
		m := regexp.MustCompile(`href="/admin/users/([0-9a-f-]{36})">` + regexp.QuoteMeta(buyerEmail)).FindStringSubmatch(res.body)
		if m == nil || strings.Contains(res.body, sellerEmail) {
			t.Fatalf("the search for the buyer's email: %s", res.body)
		}
		buyerID = m[1]
	})
	t.Run("an admin grants the seller role and revokes it", func(t *testing.T) {
		admin.post(t, "/admin/users/"+buyerID+"/roles/seller", url.Values{}, http.StatusOK).want(t, "The role is granted", `id="revoke-seller"`)
		buyer.get(t, "/seller", http.StatusOK).want(t, `href="/seller/products/new"`)
		admin.post(t, "/admin/users/"+buyerID+"/roles/seller/revoke", url.Values{}, http.StatusOK).want(t, "The role is revoked", `id="grant-seller"`)
		admin.post(t, "/admin/users/"+buyerID+"/roles/overlord", url.Values{}, http.StatusBadRequest)
	})
	t.Run("an admin cannot disable their own account", func(t *testing.T) {
		res := admin.get(t, "/admin/users?email="+url.QueryEscape(adminEmail), http.StatusOK)
		m := regexp.MustCompile(`href="/admin/users/([0-9a-f-]{36})"`).FindStringSubmatch(res.body)
		if m == nil {
			t.Fatalf("no admin in %s", res.body)
		}
		admin.post(t, "/admin/users/"+m[1]+"/disable", url.Values{}, http.StatusConflict).want(t, "your own account")
	})
	t.Run("a disabled account is logged out and cannot log in", func(t *testing.T) {
		admin.post(t, "/admin/users/"+buyerID+"/disable", url.Values{}, http.StatusOK).want(t, "The account is disabled", `id="enable"`)
		res := buyer.get(t, "/account", http.StatusOK)
		res.wantPath(t, "/login")
		res.want(t, "This account is disabled", "Log in")
		buyer.get(t, "/orders", http.StatusOK).wantPath(t, "/login")
		buyer.post(t, "/login", url.Values{"email": {buyerEmail}, "password": {e2ePassword}}, http.StatusForbidden).want(t, "disabled")
		admin.post(t, "/admin/users/"+buyerID+"/enable", url.Values{}, http.StatusOK).want(t, "enabled again")
		buyer.post(t, "/login", url.Values{"email": {buyerEmail}, "password": {e2ePassword}, "next": {orderPath}}, http.StatusOK).want(t, "delivered")
	})
	t.Run("an admin adds a category with its facets", func(t *testing.T) {
		admin.post(t, "/admin/categories", url.Values{"id": {"Bad Id"}, "name": {"X"}}, http.StatusBadRequest)
		res := admin.post(t, "/admin/categories", url.Values{"id": {"desk-lamps-" + tag}, "name": {"Desk lamps"}, "parent": {"lamps"},
			"facets": {"shade, height_cm"}}, http.StatusOK)
		res.want(t, "The category is saved", "desk-lamps-"+tag, "shade, height_cm")
		admin.post(t, "/admin/categories", url.Values{"id": {"electronics"}, "name": {"Electronics"}, "parent": {"lamps"}}, http.StatusConflict)
	})

	t.Run("the preferences choose German and the prices follow", func(t *testing.T) {
		buyer.post(t, "/account/preferences", url.Values{"language": {"xx"}, "currency": {"EUR"}}, http.StatusBadRequest)
		res := buyer.post(t, "/account/preferences", url.Values{"language": {"de"}, "currency": {"EUR"}}, http.StatusOK)
		res.want(t, `<html lang="de">`, "Ihre Einstellungen sind gespeichert", `value="de" selected`)
		buyer.get(t, orderPath, http.StatusOK).want(t, "zugestellt", "19,90\u00a0€")
		buyer.post(t, "/logout", url.Values{}, http.StatusOK)
		buyer.post(t, "/login", url.Values{"email": {buyerEmail}, "password": {e2ePassword}}, http.StatusOK).want(t, `<html lang="de">`)
	})
	t.Run("without a preference the browser's language is used", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/search", nil)
		req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
		newBrowser(t, base).do(t, req).want(t, `<html lang="de">`, "Suchen")
		seller.get(t, "/", http.StatusOK).want(t, `<html lang="en">`)
	})
}

// formVersion is the product version the page's form carries.
func formVersion(t *testing.T, p webPage) string {
	t.Helper()
	m := regexp.MustCompile(`name="version" value="([0-9]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("%s has no version in its form:\n%s", p.path, p.body)
	}
	return m[1]
}

// submit posts a form with the site's anti-forgery token, whatever the
// answer: for a step that is retried until it works.
func (b *browser) submit(t *testing.T, path string, form url.Values) webPage {
	t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "mp_csrf" {
			form = withValues(form, "csrf_token", c.Value)
		}
	}
	return b.postRaw(t, path, form)
}
