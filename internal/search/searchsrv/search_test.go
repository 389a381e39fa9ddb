package searchsrv_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/proxytest"
	"github.com/marketplace-go/marketplace/internal/search/searchsrv"
)

var anonymous = httpxtest.Anonymous

func titles(p page) []string {
	out := []string{}
	for _, it := range p.Items {
		out = append(out, it.Title)
	}
	return out
}

func TestAProductIsSearchableOnceItsEventArrives(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	p := newProduct("Brass Desk Lamp")
	e.publish(t, p)
	e.waitIndexed(t, p.ID, 1)
	got := e.list(t, anonymous, url.Values{"q": {"desk lamps"}})
	if len(got.Items) != 1 || got.Items[0].ID != p.ID {
		t.Fatalf("q=desk lamps found %v, want the brass desk lamp", titles(got))
	}
}

func TestAnOlderOrRepeatedEventNeverOverwritesANewerVersion(t *testing.T) {
	t.Parallel()
	// One consumer takes the queue in order, so that the sentinel's
	// arrival proves every event before it was handled.
	e := newEnv(t, func(c *searchsrv.Config) { c.Consumers = 1 })
	e.bound(t)
	v1 := newProduct("Brass Desk Lamp")
	v2, v3, dup := v1, v1, v1
	v2.Version, v2.Title = 2, "Steel Desk Lamp"
	v3.Version, v3.Title = 3, "Copper Desk Lamp"
	dup.Version, dup.Title = 3, "Bogus Desk Lamp" // a redelivery cannot differ; a bug upstream could
	for _, p := range []product{v3, v1, v2, v3, dup} {
		e.publish(t, p)
	}
	sentinel := newProduct("Sentinel")
	e.publish(t, sentinel)
	e.waitIndexed(t, sentinel.ID, 1)
	got := e.list(t, anonymous, url.Values{"q": {"desk"}})
	if titles(got)[0] != "Copper Desk Lamp" || got.Items[0].Version != 3 || len(got.Items) != 1 {
		t.Fatalf("listed %v, want only the copper desk lamp at version 3", titles(got))
	}
}

func TestEventsRacingForManyProductsEndAtEachOnesNewestVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	const products, versions = 40, 5
	base := make([]product, products)
	for i := range base {
		base[i] = newProduct(fmt.Sprintf("Lamp %d", i))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for _, i := range r.Perm(products) {
				for _, v := range r.Perm(versions) {
					p := base[i]
					p.Version, p.Title = int64(v+1), fmt.Sprintf("Lamp %d v%d", i, v+1)
					p.Attributes = map[string]any{"colour": []string{"red", "blue", "green", "black", "white"}[v]}
					e.publish(t, p)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range base {
		e.waitIndexed(t, p.ID, versions)
	}
	got := e.list(t, anonymous, url.Values{"q": {"lamp"}, "limit": {"100"}})
	if len(got.Items) != products {
		t.Fatalf("listed %d lamps, want %d", len(got.Items), products)
	}
	for _, it := range got.Items {
		if it.Version != versions || !strings.HasSuffix(it.Title, fmt.Sprintf(" v%d", versions)) || it.Attributes["colour"] != "white" {
			t.Errorf("%s: %q version %d colour %v, want the fields of version %d", it.ID, it.Title, it.Version, it.Attributes["colour"], versions)
		}
	}
}

func TestWhileTheBrokerIsDownSearchServesWhatItHasAndCatchesUpAfter(t *testing.T) {
	t.Parallel()
	var proxy *proxytest.Proxy
	e := newEnv(t, func(c *searchsrv.Config) {
		u, _ := url.Parse(c.Events.URL)
		proxy = proxytest.NewProxy(t, u.Host)
		u.Host = proxy.Addr()
		c.Events.URL = u.String()
	})
	e.bound(t)
	p := newProduct("Brass Desk Lamp")
	e.publish(t, p)
	e.waitIndexed(t, p.ID, 1)

	proxy.Stop()
	changed := p
	changed.Version, changed.Title = 2, "Copper Desk Lamp"
	e.publish(t, changed) // waits in the queue
	for range 3 {
		got := e.list(t, anonymous, url.Values{"q": {"desk"}})
		if len(got.Items) != 1 || got.Items[0].Title != "Brass Desk Lamp" {
			t.Fatalf("while the broker is away the listing shows %v, want the brass desk lamp it had", titles(got))
		}
	}
	proxy.Start(t)
	e.waitIndexed(t, p.ID, 2)
	if got := e.list(t, anonymous, url.Values{"q": {"desk"}}); titles(got)[0] != "Copper Desk Lamp" {
		t.Fatalf("after the broker is back the listing shows %v", titles(got))
	}
}

func TestARestartedInstanceConvergesOnTheEventsItMissed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	ps := make([]product, 30)
	for i := range ps {
		ps[i] = newProduct(fmt.Sprintf("Lamp %d", i))
		e.publish(t, ps[i])
	}
	e.stop() // mid-stream: some events handled, some waiting
	for i := range ps {
		ps[i].Version, ps[i].Title = 2, fmt.Sprintf("Lamp %d again", i)
		e.publish(t, ps[i])
	}
	e.restart(t)
	for _, p := range ps {
		e.waitIndexed(t, p.ID, 2)
	}
	if st := e.Search.Index.Stats(); st.Products != int64(len(ps))+1 || st.VersionSum != 2*int64(len(ps))+1 {
		t.Fatalf("after the restart the index holds %d products, version sum %d", st.Products, st.VersionSum)
	}
}

func TestASellerListsTheirOwnDraftsAndNobodyElseSeesThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	draft := newProduct("Unfinished Lamp")
	draft.Status = "draft"
	e.publish(t, draft)
	e.waitIndexed(t, draft.ID, 1)
	seller := httpxtest.Caller{ID: draft.SellerID, Token: e.Issuer.Token(t, draft.SellerID, auth.RoleSeller)}
	rival := httpxtest.Caller{ID: "rival", Token: e.Issuer.Token(t, "c6f3a1d2-0000-4000-8000-000000000001", auth.RoleSeller)}
	shop := url.Values{"seller": {draft.SellerID}}
	if got := e.list(t, seller, shop); len(got.Items) != 1 || got.Items[0].Status != "draft" {
		t.Errorf("the seller's own listing shows %v, want their draft", titles(got))
	}
	for name, who := range map[string]httpxtest.Caller{"anonymous": anonymous, "another seller": rival} {
		if got := e.list(t, who, shop); len(got.Items) != 0 {
			t.Errorf("%s sees %v in the seller's shop", name, titles(got))
		}
	}
}

func TestSuggestCompletesWhatIsBeingTyped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	for _, title := range []string{"Brass Desk Lamp", "Brass Floor Lamp", "Wireless Headphones"} {
		p := newProduct(title)
		e.publish(t, p)
		e.waitIndexed(t, p.ID, 1)
	}
	var body struct {
		Suggestions []struct {
			Text      string `json:"text"`
			ProductID string `json:"product_id"`
		} `json:"suggestions"`
	}
	e.client().Do(t, anonymous, "GET", "/v1/search/suggest?q=brass+de", nil).Want(t, 200).Decode(t, &body)
	if len(body.Suggestions) == 0 || body.Suggestions[0].Text != "Brass Desk Lamp" {
		t.Fatalf("suggestions %+v, want Brass Desk Lamp first", body.Suggestions)
	}
}

func TestBadInputGetsAClearProblemAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	garbage := httpxtest.Caller{Token: "not-a-jwt"}
	tests := []struct {
		name, path string
		as         httpxtest.Caller
		status     int
		code       string
	}{
		{"a q over 200 characters", "/v1/products?q=" + strings.Repeat("a", 201), anonymous, 400, "validation_failed"},
		{"a q of more than 10 words", "/v1/products?q=a+b+c+d+e+f+g+h+i+j+k", anonymous, 400, "validation_failed"},
		{"a cursor this listing never returned", "/v1/products?cursor=bogus", anonymous, 400, "invalid_cursor"},
		{"a cursor of another listing", "/v1/products?sort=title&cursor=eyJzIjoidGl0bGUiLCJrIjoiYSIsImkiOiJ4IiwicSI6Inh5eiJ9", anonymous, 400, "invalid_cursor"},
		{"a page size of zero", "/v1/products?limit=0", anonymous, 400, "validation_failed"},
		{"a page size over 100", "/v1/products?limit=101", anonymous, 400, "validation_failed"},
		{"an attribute name that cannot be one", "/v1/products?attr.Colour!=red", anonymous, 400, "validation_failed"},
		{"a range bound that is no number", "/v1/products?attr.wattage.max=lots", anonymous, 400, "validation_failed"},
		{"an unknown parameter", "/v1/products?colour=red", anonymous, 400, "validation_failed"},
		{"a parameter given twice", "/v1/products?q=a&q=b", anonymous, 400, "validation_failed"},
		{"an unknown sort", "/v1/products?sort=cheapest", anonymous, 400, "validation_failed"},
		{"relevance without words", "/v1/products?sort=relevance", anonymous, 400, "validation_failed"},
		{"a negative price", "/v1/products?min_price=-1", anonymous, 400, "validation_failed"},
		{"a token that is not a JWT", "/v1/products", garbage, 401, "invalid_token"},
		{"a suggestion without text", "/v1/search/suggest?q=", anonymous, 400, "validation_failed"},
		{"a suggestion over 200 characters", "/v1/search/suggest?q=" + strings.Repeat("b", 201), anonymous, 400, "validation_failed"},
		{"too many suggestions", "/v1/search/suggest?q=a&limit=500", anonymous, 400, "validation_failed"},
	}
	before := e.Search.Index.Stats()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.client().Do(t, tt.as, "GET", tt.path, nil).WantProblem(t, tt.status, tt.code)
		})
	}
	if after := e.Search.Index.Stats(); after.Products != before.Products || after.VersionSum != before.VersionSum {
		t.Errorf("bad requests changed the index: %+v, then %+v", before, after)
	}
}

func TestQuerySyntaxIsTakenAsText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	p := newProduct(`Lamp+Shade "Deluxe" (c*)`)
	e.publish(t, p)
	e.waitIndexed(t, p.ID, 1)
	for _, q := range []string{`lamp*`, `title:lamp`, `+deluxe -shade`, `"lamp`, `(c*) OR 1=1`, `lamp~2^5`, `/lamp.*/`} {
		res := e.client().Do(t, anonymous, "GET", "/v1/products?q="+url.QueryEscape(q), nil)
		if res.Status != http.StatusOK {
			t.Errorf("q=%s answered %d %s", q, res.Status, res.Body)
		}
	}
}

func TestTheIndexLagIsAMetric(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bound(t)
	res, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, m := range []string{"search_index_lag_seconds_count 1", "search_index_products 1", `search_index_products_written_total{source="events"} 1`, "search_index_segments "} {
		if !strings.Contains(string(b), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}
