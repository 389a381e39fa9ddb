package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/httpx/httpxtest"
	"github.com/marketplace-go/marketplace/internal/platform/mongo/mongotest"
	"github.com/marketplace-go/marketplace/internal/platform/pg/pgclustertest"
)

// killedServices are the services of the split-mode rows, in the order
// they are killed: those that hold state or consume events. Products goes
// first: its relay publishes events kept in the product documents
// themselves, the riskiest to cut short.
var killedServices = []string{"products", "search", "users", "orders"}

// killedFor is how long a killed service stays down before it is started
// again.
const killedFor = 5 * time.Second

// chaosKills runs the platform again in split mode (users, products,
// search and orders each its own process, their databases on the
// cluster, the catalog on a MongoDB of the test's, behind an in-process
// gateway) and, under the same load and ledger as the other faults, kills
// each service with SIGKILL and starts it again on its address killedFor
// later. A seller also lists products the whole time, so that after each
// kill, beyond the ledger's invariants:
//   - every product the platform acknowledged is there;
//   - no product document still carries an unpublished event within 60 s
//     (the relay drained the outbox);
//   - the search listing holds every acknowledged product within 60 s
//     (the index caught up).
//
// It returns the rows and the stock reader's reads and violations.
func chaosKills(t *testing.T, cluster *pgclustertest.Cluster) (rows []chaosRow, reads, violations int64) {
	t.Helper()
	catalog := mongotest.New(t)
	vars := testVars(t, map[string]string{"LOG_LEVEL": "error", "SHUTDOWN_DELAY": "500ms",
		"MONGODB_URI": mongotest.URI(t), "MONGODB_DATABASE": catalog.Name()})
	onCluster(t, vars, cluster)
	base, procs := startSplit(t, vars)

	db, err := pgxpool.New(t.Context(), vars["ORDERS_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	l := newLedger(t, base, vars, db)
	l.seller = listingSeller(t, base)
	l.extra = func(t *testing.T, lifted time.Time) bool {
		return l.catalogHeld(t, base, catalog.Collection("products"), lifted)
	}
	stop := l.watchStock(t)
	defer stop()

	for _, s := range killedServices {
		f := chaosFault{name: killRowName(s), lasts: 10 * time.Second, apply: func() {
			killed := time.Now()
			procs[s].kill()
			// Down for a while, as under an orchestrator's restart
			// back-off: a start within milliseconds would hide the loss
			// behind the gateway's retries.
			time.Sleep(killedFor)
			// On t, not the subtest: the later faults need it running.
			procs[s] = startProcess(t, s+"-restarted", s, vars)
			t.Logf("%s was down %s, from the kill until its new process listened", s, time.Since(killed).Round(time.Millisecond))
		}}
		t.Run(f.name, func(t *testing.T) { rows = append(rows, l.run(t, base, f)) })
	}
	stop()
	if v := l.violations.Load(); v > 0 {
		t.Errorf("split mode: stock was not conserved %d times in %d reads: %s", v, l.reads.Load(), l.firstViolation())
	}
	return rows, l.reads.Load(), l.violations.Load()
}

// killRowName names the split-mode row that kills service.
func killRowName(service string) string {
	return "kill -9 of the " + service + " process (split mode), started again"
}

// killsSelected says whether the -test.run pattern selects any of the
// kill rows: a pattern of the suite's rows alone (TestChaos/Redis) leaves
// out the split mode, minutes of setup for rows it would skip; `make
// chaos`, with no pattern for the rows, runs them all. The pattern's
// second element is matched as testing matches it, against the row's
// name with its spaces as underscores.
func killsSelected(run string) bool {
	elems := strings.Split(run, "/")
	if len(elems) < 2 {
		return true
	}
	re, err := regexp.Compile(elems[1])
	if err != nil {
		return true
	}
	return slices.ContainsFunc(killedServices, func(s string) bool {
		return re.MatchString(strings.ReplaceAll(killRowName(s), " ", "_"))
	})
}

// runPattern is the -test.run flag's value, empty if there is none.
func runPattern() string {
	if f := flag.Lookup("test.run"); f != nil {
		return f.Value.String()
	}
	return ""
}

// gatewayReaches waits until the gateway is ready and answers from
// users, products and search rather than with a 503 of its own (it
// learns of instances, and checks them, after it listens).
func gatewayReaches(t *testing.T, base string) {
	t.Helper()
	client := httpxtest.Client{BaseURL: base}
	for _, call := range []struct{ method, path string }{
		{"GET", "/readyz"}, {"POST", "/v1/auth/login"}, {"GET", "/v1/categories"}, {"GET", "/v1/products?limit=1"},
	} {
		eventually.NoError(t, "the gateway answers "+call.method+" "+call.path+" without a 5xx", func() error {
			var body any
			if call.method == "POST" {
				body = map[string]any{}
			}
			res, err := client.Request(httpxtest.Anonymous, call.method, call.path, body)
			if err == nil && res.Status >= 500 {
				err = fmt.Errorf("%d %s", res.Status, res.Body)
			}
			return err
		}, eventually.Within(time.Minute))
	}
}

// listingSeller signs up a seller of its own for the ledger's listings.
func listingSeller(t *testing.T, base string) *httpxtest.Caller {
	t.Helper()
	e := loadContract(t).edge(strings.TrimPrefix(base, "http://"))
	seller, refresh := e.signUp(t, "chaos-lister@example.com")
	e.openShop(t, seller, "Chaos Listings")
	seller.Token = e.refresh(t, refresh)
	return &seller
}

// list creates products, one after another until ctx ends and ten a
// second at most, each retried until answered for good, and remembers
// those answered 201.
func (l *ledger) list(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		var p struct {
			ID string `json:"id"`
		}
		status := l.retried(ctx, *l.seller, "POST", "/v1/products", map[string]any{
			"title": fmt.Sprintf("Chaos Listing %d", i), "category": "lamps",
			"price": map[string]any{"amount": 1500, "currency": "EUR"}, "status": "active"}, &p)
		if status == http.StatusCreated {
			l.mu.Lock()
			l.listed = append(l.listed, p.ID)
			l.mu.Unlock()
		}
		pause(ctx, 100*time.Millisecond) // a seller's pace: the checks read every listing back
	}
}

// catalogHeld checks, after a fault, that every product acknowledged so
// far can be read, that the relay publishes every pending event within
// 60 s of lifted and that the search listing holds every acknowledged
// product by then.
func (l *ledger) catalogHeld(t *testing.T, base string, products *mongo.Collection, lifted time.Time) bool {
	t.Helper()
	l.mu.Lock()
	listed := slices.Clone(l.listed)
	l.mu.Unlock()
	held := true
	client := httpxtest.Client{BaseURL: base}
	for _, id := range listed {
		res, err := client.Request(httpxtest.Anonymous, "GET", "/v1/products/"+id, nil)
		if err != nil || res.Status != http.StatusOK {
			t.Errorf("acknowledged product %s cannot be read: %v %d %s", id, err, res.Status, res.Body)
			held = false
		}
	}
	deadline := lifted.Add(60 * time.Second)
	var pending int64
	if !until(deadline, func() bool {
		n, err := products.CountDocuments(t.Context(), bson.M{"pending_count": bson.M{"$gt": 0}})
		pending = n
		return err == nil && n == 0
	}) {
		t.Errorf("%d product documents still hold unpublished events 60 s after the fault", pending)
		held = false
	}
	var missing int
	if !until(deadline, func() bool {
		found := searchListing(t, client)
		missing = len(listed) - len(slices.DeleteFunc(slices.Clone(listed), func(id string) bool { return !found[id] }))
		return found != nil && missing == 0
	}) {
		t.Errorf("the search listing lacks %d of %d acknowledged products 60 s after the fault", missing, len(listed))
		held = false
	}
	t.Logf("%d products listed so far, all readable, published and found by search: %t", len(listed), held)
	return held
}

// until checks cond every 250 ms until it holds (true) or deadline
// passes (false); it checks once even past the deadline.
func until(deadline time.Time, cond func() bool) bool {
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond) // polling a store, not waiting for a signal
	}
	return true
}

// searchListing is every product id the listing of lamps shows, page by
// page (nil if a page fails).
func searchListing(t *testing.T, client httpxtest.Client) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	q := url.Values{"category": {"lamps"}, "limit": {"100"}}
	for {
		res, err := client.Request(httpxtest.Anonymous, "GET", "/v1/products?"+q.Encode(), nil)
		if err != nil || res.Status != http.StatusOK {
			return nil
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		if json.Unmarshal(res.Body, &page) != nil {
			return nil
		}
		for _, p := range page.Items {
			found[p.ID] = true
		}
		if page.Next == nil || *page.Next == "" {
			return found
		}
		q.Set("cursor", *page.Next)
	}
}

func TestKillsSelectedSaysWhetherARunPatternReachesTheSplitModeRows(t *testing.T) {
	tests := []struct {
		run  string
		want bool
	}{
		{"", true},
		{"TestChaos", true},                       // make chaos
		{"TestChaos/", true},                      // an empty element matches every row
		{"TestChaos/kill", true},                  // every kill row
		{"TestChaos/kill_-9_of_the_orders", true}, // one of them
		{"TestChaos/(Redis|RabbitMQ|payment)", false},
		{"TestChaos/PostgreSQL_bandwidth_16_KB/s", false},
		{"TestChaos/(", true}, // testing refuses it before; run everything rather than guess
	}
	for _, tt := range tests {
		if got := killsSelected(tt.run); got != tt.want {
			t.Errorf("killsSelected(%q) = %v, want %v", tt.run, got, tt.want)
		}
	}
}
