package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
)

// listingPlatform is the part of the marketplace a public listing needs,
// in this process: users (accounts and token keys), products (categories
// and writes), search (the listing itself, from its index) and the
// gateway, which clients call and which routes GET /v1/products to
// search.
type listingPlatform struct {
	api   httpxtest.Client // the gateway
	admin httpxtest.Caller // may write categories
}

// startListingPlatform starts the platform and makes its admin: the first
// admin is made by the grant-role command, as in production.
func startListingPlatform(t *testing.T) *listingPlatform {
	t.Helper()
	getenv := testEnv(t, map[string]string{
		// Categories announce no events: the search service reads the tree
		// every interval, and the scenarios list categories they have just
		// made.
		"SEARCH_CATEGORIES_INTERVAL": "200ms",
		// Sign-ups hash passwords (argon2), slow on a loaded machine under
		// -race: the scenarios judge the listing, not the gateway's
		// patience.
		"GATEWAY_TIMEOUT": "60s",
	})
	addrs, _ := startServe(t, getenv, "--target=users,products,search,gateway")
	p := &listingPlatform{api: httpxtest.Client{BaseURL: "http://" + addrs["gateway"]}}
	email := "listing-admin@example.com"
	admin, refresh := p.signUp(t, email)
	if err := run(context.Background(), []string{"grant-role", "--email=" + email, "--role=admin"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	admin.Token = p.refresh(t, refresh)
	p.admin = admin
	eventually.NoError(t, "the search service answers the listing through the gateway", func() error {
		res, err := p.api.Request(httpxtest.Anonymous, "GET", "/v1/products?limit=1", nil)
		if err != nil || res.Status != http.StatusOK {
			return fmt.Errorf("GET /v1/products: %v %d %s", err, res.Status, res.Body)
		}
		return nil
	}, eventually.Within(time.Minute))
	return p
}

// signUp registers an account through the gateway and signs it in; it
// returns the caller and the session's refresh token.
func (p *listingPlatform) signUp(t *testing.T, email string) (httpxtest.Caller, string) {
	t.Helper()
	var user struct {
		ID string `json:"id"`
	}
	p.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/register",
		map[string]any{"email": email, "password": e2ePassword, "display_name": "Listing"}).Want(t, http.StatusCreated).Decode(t, &user)
	var tok tokens
	p.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/login", map[string]any{"email": email, "password": e2ePassword}).
		Want(t, http.StatusOK).Decode(t, &tok)
	return httpxtest.Caller{ID: user.ID, Token: tok.AccessToken}, tok.RefreshToken
}

// refresh spends a refresh token for an access token with the account's
// current roles.
func (p *listingPlatform) refresh(t *testing.T, refreshToken string) string {
	t.Helper()
	var tok tokens
	p.api.Do(t, httpxtest.Anonymous, "POST", "/v1/auth/refresh", map[string]any{"refresh_token": refreshToken}).
		Want(t, http.StatusOK).Decode(t, &tok)
	return tok.AccessToken
}

// listingScenario is one scenario's corner of the shared platform: its
// categories carry its tag, its sellers are its own, so it sees no other
// scenario's products.
type listingScenario struct {
	*listingPlatform
	tag        string
	categories []string           // made so far, in order
	made       []listingProduct   // every product made, at its last version
	sellers    []httpxtest.Caller // every seller made
}

func (p *listingPlatform) scenario() *listingScenario {
	return &listingScenario{listingPlatform: p, tag: "l" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]}
}

// category makes a category named name under parent (a full id, or "")
// with the facets given, and returns its id: the scenario's tag, a dash,
// and name lower-cased with dashes for spaces. Its words (id and name)
// are searchable text of its products, so names are chosen not to clash
// with the scenarios' search words.
func (s *listingScenario) category(t *testing.T, name, parent string, facets ...string) string {
	t.Helper()
	id := s.tag + "-" + strings.ReplaceAll(strings.ToLower(name), " ", "-")
	if facets == nil {
		facets = []string{}
	}
	s.api.Do(t, s.admin, "PUT", "/v1/categories/"+id, map[string]any{"name": name, "parent": parent, "facets": facets}).
		Want(t, http.StatusCreated)
	s.categories = append(s.categories, id)
	return id
}

// seller makes an account with a shop, its token carrying the seller
// role.
func (s *listingScenario) seller(t *testing.T) httpxtest.Caller {
	t.Helper()
	email := fmt.Sprintf("%s-seller-%d@example.com", s.tag, len(s.sellers))
	seller, refresh := s.signUp(t, email)
	s.api.Do(t, seller, "POST", "/v1/users/me/seller", map[string]any{"shop_name": "Shop " + email}).Want(t, http.StatusCreated)
	seller.Token = s.refresh(t, refresh)
	s.sellers = append(s.sellers, seller)
	return seller
}

// listingProduct is a product as the API answers it.
type listingProduct struct {
	ID         string         `json:"id"`
	SellerID   string         `json:"seller_id"`
	Title      string         `json:"title"`
	Category   string         `json:"category"`
	Price      e2eMoney       `json:"price"`
	Attributes map[string]any `json:"attributes"`
	Status     string         `json:"status"`
	Version    int64          `json:"version"`
	CreatedAt  time.Time      `json:"created_at"`
}

// listingFacet is one value of an attribute facet.
type listingFacet struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// listingPage is one page of the public listing.
type listingPage struct {
	Items  []listingProduct `json:"items"`
	Next   string           `json:"next_cursor"`
	Facets struct {
		Attributes map[string][]listingFacet `json:"attributes"`
		Prices     []struct {
			Min   int64 `json:"min"`
			Max   int64 `json:"max"`
			Count int64 `json:"count"`
		} `json:"prices"`
	} `json:"facets"`
}

// listed is one product a scenario makes.
type listed struct {
	seller httpxtest.Caller
	cat    string
	title  string
	price  int64
	attrs  map[string]any
	status string // "" is active
}

// list creates a product through the gateway (which sends writes to the
// products service) and returns it as created.
func (s *listingScenario) list(t *testing.T, l listed) listingProduct {
	t.Helper()
	if l.status == "" {
		l.status = "active"
	}
	if l.attrs == nil {
		l.attrs = map[string]any{}
	}
	var p listingProduct
	s.api.Do(t, l.seller, "POST", "/v1/products", map[string]any{
		"title": l.title, "category": l.cat, "price": map[string]any{"amount": l.price, "currency": "EUR"},
		"attributes": l.attrs, "status": l.status,
	}).Want(t, http.StatusCreated).Decode(t, &p)
	s.made = append(s.made, p)
	return p
}

// archive archives a product of the scenario's.
func (s *listingScenario) archive(t *testing.T, seller httpxtest.Caller, p listingProduct) listingProduct {
	t.Helper()
	var out listingProduct
	s.api.Do(t, seller, "POST", "/v1/products/"+p.ID+"/archive", nil, "If-Match", `"`+strconv.FormatInt(p.Version, 10)+`"`).
		Want(t, http.StatusOK).Decode(t, &out)
	for i := range s.made {
		if s.made[i].ID == out.ID {
			s.made[i] = out
		}
	}
	return out
}

// waitIndexed waits until the public listing, which the search service
// answers from an index fed by the products' events, holds every product
// the scenario made at its last version (each seller's own listing shows
// every status), and knows each of its categories with the products below
// it, so that the scenario judges what the listing finds, not how soon an
// event arrives.
func (s *listingScenario) waitIndexed(t *testing.T) {
	t.Helper()
	want := map[string]int64{}
	for _, p := range s.made {
		want[p.ID] = p.Version
	}
	eventually.NoError(t, "the search index to hold the scenario's products at their versions", func() error {
		got := map[string]int64{}
		for _, seller := range s.sellers {
			q := url.Values{"seller": {seller.ID}, "limit": {"100"}}
			for {
				page, err := s.tryList(seller, q.Encode())
				if err != nil {
					return err
				}
				for _, p := range page.Items {
					got[p.ID] = p.Version
				}
				if page.Next == "" {
					break
				}
				q.Set("cursor", page.Next)
			}
		}
		if !maps.Equal(want, got) {
			return fmt.Errorf("it holds %v, want %v", got, want)
		}
		// The tree is read whole: once the last category made is known,
		// every earlier one is, with its place in the tree.
		for _, c := range s.categories {
			if _, err := s.tryList(httpxtest.Anonymous, "limit=1&category="+c); err != nil {
				return err
			}
		}
		return nil
	})
}

// tryList reads one page without failing the test, for waits.
func (s *listingScenario) tryList(who httpxtest.Caller, query string) (listingPage, error) {
	var page listingPage
	res, err := s.api.Request(who, "GET", "/v1/products?"+query, nil)
	switch {
	case err != nil:
		return page, err
	case res.Status != http.StatusOK:
		return page, fmt.Errorf("GET ?%s: %d %s", query, res.Status, res.Body)
	}
	return page, json.Unmarshal(res.Body, &page)
}

// mustList reads one page of the public listing, anonymously; query is
// the URL query without "?".
func (s *listingScenario) mustList(t *testing.T, query string) listingPage {
	t.Helper()
	var page listingPage
	s.api.Do(t, httpxtest.Anonymous, "GET", "/v1/products?"+query, nil).Want(t, http.StatusOK).Decode(t, &page)
	return page
}

// get sends an anonymous listing request and returns the answer as it is.
func (s *listingScenario) get(t *testing.T, query string) httpxtest.Response {
	t.Helper()
	return s.api.Do(t, httpxtest.Anonymous, "GET", "/v1/products?"+query, nil)
}

// walk follows next_cursor from the first page of query to the last and
// returns every item in the order served; between runs before each
// cursor is followed, with the number of pages read so far.
func (s *listingScenario) walk(t *testing.T, query string, between func(page int)) []listingProduct {
	t.Helper()
	var all []listingProduct
	page := s.mustList(t, query)
	for n := 1; ; n++ {
		all = append(all, page.Items...)
		if page.Next == "" {
			return all
		}
		if n > 1000 {
			t.Fatalf("walk of %s does not end", query)
		}
		if between != nil {
			between(n)
		}
		page = s.mustList(t, query+"&cursor="+url.QueryEscape(page.Next))
	}
}

func productIDs(items []listingProduct) []string {
	out := make([]string, len(items))
	for i, p := range items {
		out[i] = p.ID
	}
	return out
}

func productTitles(items []listingProduct) []string {
	out := make([]string, len(items))
	for i, p := range items {
		out[i] = p.Title
	}
	return out
}

// problemFields returns the fields a validation problem names.
func problemFields(t *testing.T, r httpxtest.Response) map[string]string {
	t.Helper()
	var p struct {
		Errors map[string]string `json:"errors"`
	}
	r.Decode(t, &p)
	return p.Errors
}
