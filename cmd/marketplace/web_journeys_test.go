package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
)

// axeScript is axe-core (npm axe-core 4.14.1, MPL-2.0), vendored for the
// accessibility checks and injected into each page by the test.
const axeScript = "../../internal/web/storefront/testdata/axe-4.14.1.min.js"

// pageBudget is the most a page may weigh, HTML, style sheet and scripts
// together (images aside).
const pageBudget = 150 << 10

// TestWebJourneysInARealBrowser drives Chromium, scripts on, through the
// journeys of the storefront, the seller centre and the admin console,
// against one start of the whole platform: the seller's, the buyer's, the
// admin's, a password reset through the mail, and the bad paths. Then
// every page, in English and in German, is checked by axe-core (no
// serious or critical violation) and weighed (at most 150 KB). With
// WEB_SCREENSHOTS set to a directory (make screenshots), each page is
// also photographed at desktop and phone width.
func TestWebJourneysInARealBrowser(t *testing.T) {
	endToEnd(t) // and a browser
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on PATH: run `make tools`")
	}
	mail := mailtest.NewServer(t)
	gatewayAddr := freeAddr(t)
	base := "http://" + gatewayAddr
	getenv := testEnv(t, map[string]string{"GATEWAY_ADDR": gatewayAddr, "WEB_API_URL": base, "PUBLIC_URL": base,
		"SMTP_HOST": mail.Host, "SMTP_PORT": strconv.Itoa(mail.Port), "SMTP_TLS": "none"})
	if err := run(context.Background(), []string{"seed", "--products=40", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	startServe(t, getenv)
	untilListed(t, base)
	d := newDriver(t, chromium, base)

	tag := uuid.NewString()[:6]
	seller, buyer, admin := d.person(t), d.person(t), d.person(t)
	sellerEmail, buyerEmail, adminEmail := "seller-"+tag+"@example.com", "buyer-"+tag+"@example.com", "admin-"+tag+"@example.com"
	seller.signUp(t, "Browser Seller", sellerEmail)
	buyer.signUp(t, "Browser Buyer", buyerEmail)
	admin.signUp(t, "Browser Admin", adminEmail)
	title := "Zephyrine Lantern " + tag
	var productID, orderURL, victimPath string

	t.Run("seller: opens a shop, creates and publishes a product, sets its stock", func(t *testing.T) {
		seller.do(t, "open a shop",
			chromedp.Navigate(base+"/seller"),
			chromedp.SendKeys(chromedp.CSS(`#shop_name`), "Lanterns "+tag),
			press(chromedp.CSS(`form[action="/seller/shop"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/seller/products/new"]`)))
		seller.do(t, "create a product with the category's attributes",
			chromedp.Navigate(base+"/seller/products/new?category=lamps"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="attr.colour"]`)),
			chromedp.SendKeys(chromedp.CSS(`#title`), title),
			chromedp.SendKeys(chromedp.CSS(`#price`), "24.50"),
			chromedp.SendKeys(chromedp.CSS(`input[name="attr.colour"]`), "ultramarine"),
			chromedp.SendKeys(chromedp.CSS(`input[name="attr.dimmable"]`), "true"),
			press(chromedp.CSS(`form.product-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`form.stock-form`)))
		productID = strings.TrimPrefix(strings.SplitN(seller.location(t), "?", 2)[0], base+"/seller/products/")
		seller.do(t, "set the stock",
			chromedp.SetValue(chromedp.CSS(`#on_hand`), "3"),
			press(chromedp.CSS(`form.stock-form button`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "stock is set")]`)))
		seller.do(t, "publish it",
			press(chromedp.CSS(`form[action$="/publish"] button`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "on sale")]`)))
	})

	t.Run("buyer: searches with a typo, narrows by a facet, adds to cart, checks out and pays", func(t *testing.T) {
		typo := "zephyrin lantren"
		eventually.NoError(t, "the search to find the product despite the typos", func() error {
			return buyer.run(chromedp.Navigate(base+"/"),
				chromedp.SendKeys(chromedp.CSS(`#top-q`), typo+"\r"),
				chromedp.WaitVisible(chromedp.CSS(`#results`)),
				chromedp.WaitVisible(chromedp.CSS(`#results a[href="/products/`+productID+`"]`), chromedp.RetryInterval(100*time.Millisecond)))
		}, eventually.Within(stepTimeout)) // the index follows the catalog's events a moment later
		buyer.do(t, "narrow the category by the colour facet",
			chromedp.Navigate(base+"/search?category=lamps"),
			chromedp.Poll[chromedp.Void](`(document.querySelector('form.filters')['htmx-internal-data'] || {}).initHash`),
			press(chromedp.CSS(`input[name="attr.colour"][value="ultramarine"]`)),
			waitLocation("attr.colour=ultramarine"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="attr.colour"][value="ultramarine"][checked]`)),
			press(chromedp.CSS(`#results a[href="/products/`+productID+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`form.buy`)))
		if shop, stock := buyer.text(t, `a.shop`), buyer.text(t, `p.stock[data-stock=low]`); shop != "Lanterns "+tag || stock != "Only 3 left" {
			t.Errorf("the product page says it is sold by %q and %q; want the shop's name and 3 left", shop, stock)
		}
		buyer.do(t, "add it to the cart", press(chromedp.CSS(`form.buy button`)), chromedp.WaitVisible(chromedp.CSS(`table.cart`)))
		buyer.do(t, "check out and pay",
			press(chromedp.CSS(`a[href="/checkout"]`)),
			chromedp.WaitVisible(chromedp.CSS(`form.checkout`)),
			chromedp.SendKeys(chromedp.CSS(`#name`), "Browser Buyer"),
			chromedp.SendKeys(chromedp.CSS(`#line1`), "Hauptstraße 1"),
			chromedp.SendKeys(chromedp.CSS(`#city`), "Berlin"),
			chromedp.SendKeys(chromedp.CSS(`#postal_code`), "10115"),
			chromedp.SendKeys(chromedp.CSS(`#country`), "DE"),
			press(chromedp.CSS(`form.checkout button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`ol.timeline`)))
		if s := buyer.text(t, `strong.status`); s != "paid" {
			t.Errorf("the order is %q, want paid", s)
		}
		orderURL = buyer.location(t)
	})

	t.Run("seller ships the sub-order with a tracking number; the buyer sees the order change", func(t *testing.T) {
		seller.do(t, "ship",
			chromedp.Navigate(base+"/seller/orders"),
			chromedp.SendKeys(chromedp.CSS(`form.ship-form input[name=tracking_number]`), "1Z"+tag),
			press(chromedp.CSS(`form.ship-form button`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "shipped")]`)))
		buyer.do(t, "see it shipped", chromedp.Navigate(orderURL), chromedp.WaitVisible(chromedp.CSS(`.parcel-status[data-status="shipped"]`)))
		if got := buyer.text(t, `.tracking`); got != "1Z"+tag {
			t.Errorf("tracking number %q", got)
		}
	})

	if err := run(context.Background(), []string{"grant-role", "--email=" + adminEmail, "--role=admin"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	admin.logIn(t, adminEmail, e2ePassword)
	victim := d.person(t)
	victimEmail := "victim-" + tag + "@example.com"
	victim.signUp(t, "Browser Victim", victimEmail)

	t.Run("admin: grants the seller role, then disables a user, who is logged out", func(t *testing.T) {
		admin.do(t, "find the account by email",
			chromedp.Navigate(base+"/admin/users"),
			chromedp.SendKeys(chromedp.CSS(`#email-search`), "victim-"+tag+"\r"),
			// The account is in the unsearched list too: wait for the
			// search's answer, or the click may land on a link it replaces.
			waitLocation("email=victim-"+tag),
			chromedp.WaitVisible(chromedp.Search(`//table[@class="users"]//a[contains(., "`+victimEmail+`")]`)),
			press(chromedp.Search(`//table[@class="users"]//a[contains(., "`+victimEmail+`")]`)),
			chromedp.WaitVisible(chromedp.CSS(`#grant-seller`)))
		victimPath = strings.TrimPrefix(admin.location(t), base)
		admin.do(t, "grant the seller role", press(chromedp.CSS(`#grant-seller`)), chromedp.WaitVisible(chromedp.CSS(`#revoke-seller`)))
		victim.do(t, "the victim has the seller centre", chromedp.Navigate(base+"/seller"), chromedp.WaitVisible(chromedp.CSS(`a[href="/seller/products/new"]`)))
		admin.do(t, "disable the account", press(chromedp.CSS(`#disable`)), chromedp.WaitVisible(chromedp.CSS(`#enable`)))
		victim.do(t, "the victim is logged out",
			chromedp.Navigate(base+"/account"),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="error" and contains(., "disabled")]`)),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/login"]`)))
	})

	t.Run("reset: a password reset through the mail and the reset page", func(t *testing.T) {
		stranger := d.person(t)
		stranger.do(t, "ask for a reset",
			chromedp.Navigate(base+"/forgot-password"),
			chromedp.SendKeys(chromedp.CSS(`#email`), buyerEmail),
			press(chromedp.CSS(`form.narrow button`)),
			chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
		link := regexp.MustCompile(regexp.QuoteMeta(base) + `/reset-password\?token=[A-Za-z0-9_-]+`).FindString(mail.WaitForText(t, buyerEmail, "/reset-password?token=").Data)
		if link == "" {
			t.Fatal("no reset link in the mail")
		}
		stranger.do(t, "set a new password on the page the mail links to",
			chromedp.Navigate(link),
			chromedp.SendKeys(chromedp.CSS(`#new_password`), "a-brand-new-password-7"),
			press(chromedp.CSS(`form.narrow button`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "password is changed")]`)))
		stranger.logIn(t, buyerEmail, "a-brand-new-password-7")
		buyer.logIn(t, buyerEmail, "a-brand-new-password-7")
	})

	t.Run("bad paths: a declined card, out of stock, a stale edit, a double submit of checkout", func(t *testing.T) {
		buyer.do(t, "a declined card is explained",
			chromedp.Navigate(base+"/products/"+productID),
			press(chromedp.CSS(`form.buy button`)),
			chromedp.WaitVisible(chromedp.CSS(`table.cart`)),
			chromedp.Navigate(base+"/checkout"),
			press(chromedp.CSS(`input[value=pm_card_declined]`)),
			press(chromedp.CSS(`form.checkout button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="error" and contains(., "declined")]`)))
		buyer.do(t, "more than the stock is refused at checkout",
			chromedp.Navigate(base+"/products/"+productID),
			chromedp.SetValue(chromedp.CSS(`#quantity`), "5"),
			press(chromedp.CSS(`form.buy button`)),
			chromedp.WaitVisible(chromedp.CSS(`table.cart`)),
			chromedp.Navigate(base+"/checkout"),
			press(chromedp.CSS(`form.checkout button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="error" and contains(., "no longer in stock")]`)))
		before := buyer.count(t, base+"/orders", `table a[href^="/orders/"]`)
		buyer.do(t, "the checkout form is sent twice at once",
			chromedp.Navigate(base+"/cart"),
			chromedp.SetValue(chromedp.CSS(`table.cart input[name=quantity]`), "1"),
			press(chromedp.CSS(`table.cart form.inline button`)),
			chromedp.WaitVisible(chromedp.CSS(`table.cart input[name=quantity][value="1"]`)),
			chromedp.Navigate(base+"/checkout"),
			chromedp.WaitVisible(chromedp.CSS(`form.checkout`)),
			chromedp.Evaluate[chromedp.Void](`Promise.all([1, 2].map(() => fetch('/checkout', {method: 'POST',
				body: new URLSearchParams(new FormData(document.querySelector('form.checkout')))})))`, chromedp.EvalAwaitPromise))
		if after := buyer.count(t, base+"/orders", `table a[href^="/orders/"]`); after != before+1 {
			t.Errorf("%d orders before a double submit and %d after, want one more", before, after)
		}
		seller.do(t, "open the product in two tabs' worth: the form is at its version", chromedp.Navigate(base+"/seller/products/"+productID),
			chromedp.WaitVisible(chromedp.CSS(`form.product-form`)))
		version, err := chromedp.Run(seller.ctx, chromedp.Value(chromedp.CSS(`form.product-form input[name=version]`)))
		if err != nil {
			t.Fatal(err)
		}
		seller.do(t, "someone else saves first",
			chromedp.SetValue(chromedp.CSS(`#price`), "21.00"),
			press(chromedp.CSS(`form.product-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "saved")]`)))
		seller.do(t, "the stale form shows the conflict",
			chromedp.SetValue(chromedp.CSS(`form.product-form input[name=version]`), version),
			chromedp.SetValue(chromedp.CSS(`#price`), "99.00"),
			press(chromedp.CSS(`form.product-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`section.conflict`)))
		if got := seller.value(t, `#price`); got != "99.00" {
			t.Errorf("the conflict's form lost what was typed: %q", got)
		}
	})

	// The pages, for axe, the weight and the screenshots: the admin's
	// (an admin sees the seller centre too), and a newcomer's, who has no
	// shop yet.
	admin.do(t, "the admin fills a cart", chromedp.Navigate(base+"/products/"+productID), press(chromedp.CSS(`form.buy button`)),
		chromedp.WaitVisible(chromedp.CSS(`table.cart`)))
	newcomer := d.person(t)
	newcomer.signUp(t, "Browser Newcomer", "newcomer-"+tag+"@example.com")
	newcomer.do(t, "a bad phone number is refused by its field, then a good one saved",
		chromedp.Navigate(base+"/account"),
		chromedp.SendKeys(chromedp.CSS(`#phone`), "12"),
		press(chromedp.CSS(`form.profile button`)),
		chromedp.WaitVisible(chromedp.Search(`//input[@id="phone"]/following-sibling::small[@class="field-error" and contains(., "E.164")]`)),
		chromedp.SetValue(chromedp.CSS(`#phone`), "+4930123456"),
		press(chromedp.CSS(`form.profile button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(., "profile is saved")]`)))
	if got := newcomer.value(t, `#phone`); got != "+4930123456" {
		t.Errorf("the saved phone reads %q", got)
	}
	pages := []struct{ name, path string }{
		{"home", "/"}, {"search", "/search?category=lamps"}, {"search-empty", "/search?q=qqqqzzzz"},
		{"product", "/products/" + productID}, {"cart", "/cart"}, {"checkout", "/checkout"},
		{"account", "/account"},
		{"login", "/login"}, {"register", "/register"}, {"forgot-password", "/forgot-password"},
		{"reset-password", "/reset-password?token=example"}, {"not-found", "/no/such/page"},
		{"seller", "/seller"}, {"seller-new-product", "/seller/products/new?category=lamps"},
		{"seller-product", "/seller/products/" + productID}, {"seller-orders", "/seller/orders"},
		{"admin-users", "/admin/users"}, {"admin-categories", "/admin/categories"},
	}
	if victimPath != "" { // the admin journey found the account
		pages = append(pages, struct{ name, path string }{"admin-user", victimPath})
	}
	shots := os.Getenv("WEB_SCREENSHOTS")
	for _, lang := range []string{"en", "de"} {
		for _, who := range []struct {
			p     *person
			pages []struct{ name, path string }
		}{
			{admin, pages},
			{buyer, []struct{ name, path string }{{"orders", "/orders"}, {"order", strings.TrimPrefix(orderURL, base)}}},
			// The error page: the console refused to one who is no admin.
			{newcomer, []struct{ name, path string }{{"seller-open-shop", "/seller"}, {"error", "/admin/categories"}}},
		} {
			who.p.do(t, "choose the language", chromedp.Navigate(base+"/account"),
				chromedp.SetValue(chromedp.CSS(`#language`), lang),
				press(chromedp.CSS(`form.prefs button`)),
				chromedp.WaitVisible(chromedp.CSS(`html[lang=`+lang+`] p.notice`)))
			for _, p := range who.pages {
				t.Run("every page: "+p.name+" in "+lang, func(t *testing.T) {
					who.p.do(t, "open", chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(`html[lang=`+lang+`] main`)))
					who.p.checkAccessibility(t)
					who.p.checkWeight(t)
					if shots != "" && lang == "en" {
						who.p.screenshot(t, filepath.Join(shots, p.name))
					}
				})
			}
		}
	}
	d.checkScripts(t)
}

// driver is one Chromium, in which each person has a browser context of
// their own (their own cookies), as separate browsers would.
type driver struct {
	base    string
	browser context.Context
	mu      sync.Mutex
	thrown  []string
	axe     string
}

func newDriver(t *testing.T, chromium, base string) *driver {
	t.Helper()
	axe, err := os.ReadFile(axeScript)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &driver{base: base, browser: browser, axe: string(axe)}
}

// person is someone at the browser, with their own cookies.
type person struct {
	d   *driver
	ctx context.Context
}

func (d *driver) person(t *testing.T) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(d.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTime := context.WithTimeout(ctx, 15*time.Minute)
	t.Cleanup(cancelTime)
	// Scripts that fail (a blocked inline script, a CSP violation that
	// throws) fail the test.
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			d.mu.Lock()
			d.thrown = append(d.thrown, exceptionText(e.ExceptionDetails))
			d.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return &person{d: d, ctx: ctx}
}

func (d *driver) checkScripts(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.thrown) > 0 {
		t.Errorf("scripts threw: %q", d.thrown)
	}
}

// stepTimeout bounds one step of a journey: generous, since a step may
// include an argon2 hash on a loaded machine.
const stepTimeout = 90 * time.Second

func (p *person) run(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// press clicks what sel selects once the page is still. A boosted link or
// form swaps the body and, when the swap settles, scrolls to the top; a click
// aimed before that lands on whatever the scroll moved under the pointer, so
// the press would miss its button now and then.
func press[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Poll[chromedp.Void](`document.readyState === 'complete' && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')`),
		chromedp.Click(sel))
}

// do runs a step of a journey; a step that fails shows where the person
// was and what the page said.
func (p *person) do(t *testing.T, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := p.run(actions...); err != nil {
		loc, _ := chromedp.Run(p.ctx, chromedp.Location())
		body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s:\n%s", step, err, loc, body)
	}
}

func (p *person) signUp(t *testing.T, name, email string) {
	t.Helper()
	p.do(t, "sign up",
		chromedp.Navigate(p.d.base+"/register"),
		chromedp.SendKeys(chromedp.CSS(`#display_name`), name),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), e2ePassword),
		press(chromedp.CSS(`form.narrow button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
}

func (p *person) logIn(t *testing.T, email, password string) {
	t.Helper()
	p.do(t, "log in",
		chromedp.Navigate(p.d.base+"/login"),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		press(chromedp.CSS(`form.narrow button[type=submit]`)),
		// The form sends the person home; someone signed in already has
		// a log-out button on the log-in page too.
		waitPath("/"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
}

func (p *person) location(t *testing.T) string {
	t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (p *person) text(t *testing.T, css string) string {
	t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

func (p *person) value(t *testing.T, css string) string {
	t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(css)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// count is how many elements css matches on the page at url.
func (p *person) count(t *testing.T, url, css string) int {
	t.Helper()
	p.do(t, "open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`main`)))
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, css)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// axeViolation is one rule axe found broken, with how bad.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core on the page and fails on a serious or
// critical violation.
func (p *person) checkAccessibility(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](p.d.axe)); err != nil {
		t.Fatalf("inject axe: %v", err)
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe: %v", err)
	}
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprint(n.Target...))
			}
			t.Errorf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(where, ", "))
		}
	}
}

// checkWeight adds the page's HTML to the scripts and styles it loaded.
func (p *person) checkWeight(t *testing.T) {
	t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
		.filter(e => e.initiatorType !== 'img').reduce((n, e) => n + (e.decodedBodySize || 0), 0)`))
	if err != nil {
		t.Fatal(err)
	}
	if n > pageBudget {
		t.Errorf("the page weighs %d bytes, over %d", n, pageBudget)
	}
}

// screenshot writes name-desktop.png and name-phone.png.
func (p *person) screenshot(t *testing.T, name string) {
	t.Helper()
	for _, size := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		var opts []chromedp.EmulateViewportOption
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		err := chromedp.Do(p.ctx, chromedp.EmulateViewport(size.width, size.height, opts...), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`main`)))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(name+"-"+size.suffix+".png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(p.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// waitPath waits until the page's address has the path want: across a
// whole page load, which a script polling the page would not survive.
func waitPath(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		for {
			// While the old document goes, reading the address fails; the
			// next try reads the new one.
			loc, err := chromedp.Location()(ctx, tgt)
			if u, perr := url.Parse(loc); err == nil && perr == nil && u.Path == want {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}
