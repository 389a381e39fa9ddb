package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/sync/errgroup"
)

// prepConcurrency bounds the preparation's calls in flight: registrations
// and logins cost the users service ~50ms of CPU each (argon2), so more
// would only queue there.
const prepConcurrency = 8

// account is a prepared user and its current tokens, which the refresher
// renews while the load runs.
type account struct {
	ID, Email, Password string
	// address is where the buyer's orders go; placeOrder is the body it
	// checks its cart out with, to that address.
	address    address
	placeOrder []byte

	mu      sync.Mutex
	access  string
	refresh string
	expires time.Time
}

// token is the account's current access token.
func (a *account) token() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.access
}

// tokens is the users service's answer to login and refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

func (a *account) set(t tokens) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.access, a.refresh = t.AccessToken, t.RefreshToken
	a.expires = time.Now().Add(time.Duration(t.ExpiresIn) * time.Second)
}

// product is what the scenarios need to know of a catalog product.
type product struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Category string `json:"category"`
}

// fixture is what preparation made and found: the accounts, the
// loadgen's own products (stocked for checkouts), and the catalog.
type fixture struct {
	RunID      string
	Buyers     []*account
	Seller     *account  // nil when the mix needs no products of its own
	Own        []product // listed by the loadgen's seller, with a large stock
	Catalog    []product // active products found in listings (Own included)
	Categories []string
	Words      []string // title words, for searches
}

// prepare registers and logs in the buyers, makes a seller with stocked
// products when the mix needs them (Config.OwnProducts), waits until they
// are listed, and reads the catalog: all through the public API, so that
// it works on any deployment.
func prepare(ctx context.Context, c *apiClient, cfg Config) (*fixture, error) {
	f := &fixture{RunID: runID()}
	if err := f.readCategories(ctx, c); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.prepareBuyers(gctx, c, cfg.Users) })
	if n := cfg.OwnProducts(); n > 0 {
		g.Go(func() error { return f.prepareSeller(gctx, c, n) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if f.Seller != nil {
		if err := f.waitListed(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := f.readCatalog(ctx, c); err != nil {
		return nil, err
	}
	return f, nil
}

// runID makes the accounts of this run unique on a shared deployment.
func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102t150405") + hex.EncodeToString(b)
}

func (f *fixture) readCategories(ctx context.Context, c *apiClient) error {
	var list struct {
		Categories []struct {
			ID string `json:"id"`
		} `json:"categories"`
	}
	if err := c.do(ctx, "", "GET", "/v1/categories", nil, &list); err != nil {
		return fmt.Errorf("read categories: %w", err)
	}
	for _, cat := range list.Categories {
		f.Categories = append(f.Categories, cat.ID)
	}
	if len(f.Categories) == 0 {
		return errors.New("the catalog has no categories, so no product can be listed: load them first (marketplace seed, or PUT /v1/categories/{id} as an admin)")
	}
	return nil
}

// newAccount registers an account and logs it in.
func (f *fixture) newAccount(ctx context.Context, c *apiClient, role string, i int) (*account, error) {
	a := &account{
		Email:    fmt.Sprintf("loadgen-%s-%s%d@loadgen.example.com", f.RunID, role, i),
		Password: "loadgen-" + f.RunID + "-secret",
	}
	var user struct {
		ID string `json:"id"`
	}
	body := map[string]string{"email": a.Email, "password": a.Password, "display_name": fmt.Sprintf("Loadgen %s %d", role, i)}
	if err := c.do(ctx, "", "POST", "/v1/auth/register", body, &user); err != nil {
		return nil, fmt.Errorf("register %s: %w", a.Email, err)
	}
	a.ID = user.ID
	return a, a.login(ctx, c)
}

func (a *account) login(ctx context.Context, c *apiClient) error {
	var t tokens
	if err := c.do(ctx, "", "POST", "/v1/auth/login", map[string]string{"email": a.Email, "password": a.Password}, &t); err != nil {
		return fmt.Errorf("log in %s: %w", a.Email, err)
	}
	a.set(t)
	return nil
}

// renew trades the refresh token for new tokens, or logs in again when
// the session is gone.
func (a *account) renew(ctx context.Context, c *apiClient) error {
	a.mu.Lock()
	refresh := a.refresh
	a.mu.Unlock()
	var t tokens
	if err := c.do(ctx, "", "POST", "/v1/auth/refresh", map[string]string{"refresh_token": refresh}, &t); err != nil {
		return a.login(ctx, c)
	}
	a.set(t)
	return nil
}

func (f *fixture) prepareBuyers(ctx context.Context, c *apiClient, n int) error {
	f.Buyers = make([]*account, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(prepConcurrency)
	for i := range n {
		g.Go(func() error {
			a, err := f.newAccount(ctx, c, "buyer", i+1)
			if err != nil {
				return err
			}
			a.address = buyerAddress(i)
			a.placeOrder = orderBody(a.address)
			f.Buyers[i] = a
			return nil
		})
	}
	return g.Wait()
}

// prepareSeller opens a shop, then lists and stocks the products that
// checkouts buy, so that they never run out nor depend on a demo seed.
func (f *fixture) prepareSeller(ctx context.Context, c *apiClient, n int) error {
	s, err := f.newAccount(ctx, c, "seller", 1)
	if err != nil {
		return err
	}
	shop := map[string]string{"shop_name": "Loadgen " + f.RunID}
	if err := c.do(ctx, s.token(), "POST", "/v1/users/me/seller", shop, nil); err != nil {
		return fmt.Errorf("open the loadgen shop: %w", err)
	}
	// The access token in hand lacks the seller role until refreshed.
	if err := s.renew(ctx, c); err != nil {
		return fmt.Errorf("refresh the seller's token: %w", err)
	}
	f.Seller = s
	f.Own = make([]product, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(prepConcurrency)
	for i := range n {
		g.Go(func() error {
			p, err := f.listProduct(ctx, c, i)
			f.Own[i] = p
			return err
		})
	}
	return g.Wait()
}

var (
	adjectives = []string{"sturdy", "compact", "classic", "bright", "quiet", "handy", "vintage", "modern"}
	nouns      = []string{"kettle", "lantern", "notebook", "backpack", "speaker", "blanket", "teapot", "compass"}
)

func (f *fixture) listProduct(ctx context.Context, c *apiClient, i int) (product, error) {
	p := product{
		Title:    fmt.Sprintf("Loadgen %s %s %d", adjectives[i%len(adjectives)], nouns[i/len(adjectives)%len(nouns)], i+1),
		Category: f.Categories[i%len(f.Categories)],
	}
	body := map[string]any{
		"title": p.Title, "description": "Listed by marketplace loadgen run " + f.RunID + ".",
		"category": p.Category, "price": map[string]any{"amount": 500 + i*37%20000, "currency": "EUR"},
		"status": "active",
	}
	if err := c.do(ctx, f.Seller.token(), "POST", "/v1/products", body, &p); err != nil {
		return p, fmt.Errorf("list product %d: %w", i+1, err)
	}
	stock := map[string]int{"on_hand": 1_000_000}
	if err := c.do(ctx, f.Seller.token(), "PUT", "/v1/stock/"+p.ID, stock, nil); err != nil {
		return p, fmt.Errorf("stock product %s: %w", p.ID, err)
	}
	return p, nil
}

// waitListed polls the seller's listing until every product is there, so
// that browsing starts on a catalog that has them.
func (f *fixture) waitListed(ctx context.Context, c *apiClient) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		got, err := listAll(ctx, c, url.Values{"seller": {f.Seller.ID}}, len(f.Own))
		if err == nil && len(got) >= len(f.Own) {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("wait for the loadgen's %d products to be listed (%d so far): %w", len(f.Own), len(got), err)
		}
	}
}

// readCatalog collects products and title words from the listings: the
// whole catalog, up to a few pages, which is what shoppers would see.
func (f *fixture) readCatalog(ctx context.Context, c *apiClient) error {
	list, err := listAll(ctx, c, url.Values{}, 500)
	if err != nil {
		return fmt.Errorf("read the catalog: %w", err)
	}
	f.Catalog = list
	seen := map[string]bool{}
	for _, p := range list {
		for _, w := range titleWords(p.Title) {
			if !seen[w] {
				seen[w] = true
				f.Words = append(f.Words, w)
			}
		}
	}
	return nil
}

// listAll pages through a listing until it ends or max products are read.
func listAll(ctx context.Context, c *apiClient, q url.Values, max int) ([]product, error) {
	var out []product
	q.Set("limit", "100")
	for len(out) < max {
		var page struct {
			Items      []product `json:"items"`
			NextCursor string    `json:"next_cursor"`
		}
		if err := c.do(ctx, "", "GET", "/v1/products?"+q.Encode(), nil, &page); err != nil {
			return out, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	return out, nil
}

// titleWords splits a title as the catalog's search does (lower case, at
// every ASCII non-alphanumeric), keeping words worth searching for.
func titleWords(title string) []string {
	var out []string
	split := func(r rune) bool { return r < unicode.MaxASCII && !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	for _, w := range strings.FieldsFunc(strings.ToLower(title), split) {
		if len(w) >= 3 && strings.TrimFunc(w, unicode.IsDigit) != "" {
			out = append(out, w)
		}
	}
	return out
}

// keepFresh renews access tokens before they expire (15 minutes by
// default), for runs longer than that, until ctx ends.
func (f *fixture) keepFresh(ctx context.Context, c *apiClient) {
	all := f.Buyers
	if f.Seller != nil {
		all = append([]*account{f.Seller}, all...)
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, a := range all {
			a.mu.Lock()
			due := time.Until(a.expires) < 3*time.Minute
			a.mu.Unlock()
			if due {
				_ = a.renew(ctx, c) // a failure leaves the old token; the next tick tries again
			}
		}
	}
}
