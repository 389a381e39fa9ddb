package productsrv_test

import (
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrites(t *testing.T) {
	t.Parallel()
	runScenarios(t, newEnv(t),
		scenario{"who may create, read, change and archive which product", testWhoMayCreateReadChangeAndArchiveWhichProduct},
		scenario{"archived products cannot be changed", testArchivedProductsCannotBeChanged},
		scenario{"a bad token is refused, not taken as anonymous", testABadTokenIsRefusedNotTakenAsAnonymous},
		scenario{"writes need the current version", testWritesNeedTheCurrentVersion},
		scenario{"of concurrent writes to one version exactly one wins", testOfConcurrentWritesToOneVersionExactlyOneWins},
		scenario{"ETags follow the version and If-None-Match answers 304", testETagsFollowTheVersionAndIfNoneMatchAnswers304},
		scenario{"concurrent creates all succeed with distinct ids", testConcurrentCreatesAllSucceedWithDistinctIDs},
		scenario{"bad products are refused and nothing is stored", testBadProductsAreRefusedAndNothingIsStored},
		scenario{"bad patches are refused and change nothing", testBadPatchesAreRefusedAndChangeNothing},
		scenario{"values at the limits are accepted", testValuesAtTheLimitsAreAccepted},
	)
}

func testWhoMayCreateReadChangeAndArchiveWhichProduct(t *testing.T, e *testEnv) {
	e.mustCategory(t, "owned", "")
	sellerA, sellerB, admin, buyer := e.seller(t), e.seller(t), e.admin(t), e.buyer(t)
	who := map[string]caller{"seller A": sellerA, "seller B": sellerB, "an admin": admin, "a buyer": buyer, "anonymous": anonymous}
	tests := []struct {
		who    string
		action string
		status int
		code   string
	}{
		{"seller A", "create", http.StatusCreated, ""},
		{"seller B", "create", http.StatusCreated, ""},
		{"an admin", "create", http.StatusCreated, ""},
		{"a buyer", "create", http.StatusForbidden, "seller_only"},
		{"anonymous", "create", http.StatusUnauthorized, "missing_token"},

		{"seller A", "change", http.StatusOK, ""},
		{"seller B", "change", http.StatusNotFound, "product_not_found"},
		{"an admin", "change", http.StatusOK, ""},
		{"a buyer", "change", http.StatusNotFound, "product_not_found"},
		{"anonymous", "change", http.StatusUnauthorized, "missing_token"},

		{"seller A", "change a draft", http.StatusOK, ""},
		{"seller B", "change a draft", http.StatusNotFound, "product_not_found"},
		{"an admin", "change a draft", http.StatusOK, ""},

		{"seller A", "archive", http.StatusOK, ""},
		{"seller B", "archive", http.StatusNotFound, "product_not_found"},
		{"an admin", "archive", http.StatusOK, ""},
		{"a buyer", "archive", http.StatusNotFound, "product_not_found"},
		{"anonymous", "archive", http.StatusUnauthorized, "missing_token"},

		{"seller A", "read a draft", http.StatusOK, ""},
		{"seller B", "read a draft", http.StatusNotFound, "product_not_found"},
		{"an admin", "read a draft", http.StatusOK, ""},
		{"a buyer", "read a draft", http.StatusNotFound, "product_not_found"},
		{"anonymous", "read a draft", http.StatusNotFound, "product_not_found"},

		{"seller A", "read an active product", http.StatusOK, ""},
		{"seller B", "read an active product", http.StatusOK, ""},
		{"an admin", "read an active product", http.StatusOK, ""},
		{"a buyer", "read an active product", http.StatusOK, ""},
		{"anonymous", "read an active product", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.who+" may "+tt.action+": "+strconv.Itoa(tt.status), func(t *testing.T) {
			c := who[tt.who]
			// Seller A owns every product the actions aim at.
			active := e.mustCreate(t, sellerA, productOf("owned", map[string]any{"title": "Owned lamp"}))
			draft := e.mustCreate(t, sellerA, productOf("owned", map[string]any{"title": "Owned draft", "status": "draft"}))
			var r response
			target := active
			switch tt.action {
			case "create":
				r = e.do(t, c, "POST", "/v1/products", productOf("owned", map[string]any{"title": "Created by " + tt.who}))
			case "change":
				r = e.do(t, c, "PATCH", "/v1/products/"+active.ID, map[string]any{"title": "Changed"}, "If-Match", `"1"`)
			case "change a draft":
				target = draft
				r = e.do(t, c, "PATCH", "/v1/products/"+draft.ID, map[string]any{"title": "Changed"}, "If-Match", `"1"`)
			case "archive":
				r = e.do(t, c, "POST", "/v1/products/"+active.ID+"/archive", nil, "If-Match", `"1"`)
			case "read a draft":
				target = draft
				r = e.do(t, c, "GET", "/v1/products/"+draft.ID, nil)
			case "read an active product":
				r = e.do(t, c, "GET", "/v1/products/"+active.ID, nil)
			}
			if tt.code != "" {
				r.wantProblem(t, tt.status, tt.code)
			} else {
				r.want(t, tt.status)
			}
			var got productBody
			if tt.status < 300 {
				r.decode(t, &got)
			}
			switch {
			case tt.action == "create" && tt.status == http.StatusCreated:
				if got.SellerID != c.ID || got.Version != 1 {
					t.Errorf("created %+v, want seller %s at version 1", got, c.ID)
				}
				e.mustGet(t, c, got.ID)
			case tt.action == "create":
				if items := e.stored(t, func(p productBody) bool { return p.Title == "Created by "+tt.who }); len(items) > 0 {
					t.Errorf("a refused create stored %+v", items)
				}
			case tt.status == http.StatusOK && (tt.action == "change" || tt.action == "change a draft"):
				if now := e.mustGet(t, sellerA, target.ID); now.Title != "Changed" || now.Version != 2 || now.SellerID != sellerA.ID {
					t.Errorf("after the change: %+v, want title Changed at version 2, still seller A's", now)
				}
			case tt.status == http.StatusOK && tt.action == "archive":
				if now := e.mustGet(t, sellerA, target.ID); now.Status != "archived" || now.Version != 2 {
					t.Errorf("after archiving: %+v, want archived at version 2", now)
				}
			case tt.status == http.StatusOK:
				if got.ID != target.ID || got.Title != target.Title {
					t.Errorf("read %+v, want %+v", got, target)
				}
			default:
				if now := e.mustGet(t, sellerA, target.ID); now.Version != 1 || now.Title != target.Title || now.Status != target.Status {
					t.Errorf("a refused %s changed the product: %+v", tt.action, now)
				}
			}
		})
	}
}

func testArchivedProductsCannotBeChanged(t *testing.T, e *testEnv) {
	e.mustCategory(t, "retired", "")
	seller, other, admin := e.seller(t), e.seller(t), e.admin(t)
	p := e.mustCreate(t, seller, productOf("retired", nil))
	e.mustArchive(t, seller, p.ID, 1)
	tests := []struct {
		name   string
		who    caller
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"its seller cannot change it", seller, "PATCH", "/v1/products/" + p.ID, map[string]any{"title": "Back"}, http.StatusConflict, "product_archived"},
		{"its seller cannot reactivate it", seller, "PATCH", "/v1/products/" + p.ID, map[string]any{"status": "active"}, http.StatusConflict, "product_archived"},
		{"its seller cannot archive it again", seller, "POST", "/v1/products/" + p.ID + "/archive", nil, http.StatusConflict, "product_archived"},
		{"an admin cannot change it", admin, "PATCH", "/v1/products/" + p.ID, map[string]any{"title": "Back"}, http.StatusConflict, "product_archived"},
		{"another seller does not learn it exists", other, "PATCH", "/v1/products/" + p.ID, map[string]any{"title": "Back"}, http.StatusNotFound, "product_not_found"},
		{"anyone else does not see it", anonymous, "GET", "/v1/products/" + p.ID, nil, http.StatusNotFound, "product_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, tt.who, tt.method, tt.path, tt.body, "If-Match", `"2"`).wantProblem(t, tt.status, tt.code)
		})
	}
	if got := e.mustGet(t, seller, p.ID); got.Status != "archived" || got.Version != 2 || got.Title != p.Title {
		t.Errorf("archived product now %+v", got)
	}
}

func testABadTokenIsRefusedNotTakenAsAnonymous(t *testing.T, e *testEnv) {
	e.mustCategory(t, "tokens", "")
	p := e.mustCreate(t, e.seller(t), productOf("tokens", nil))
	forged := caller{Token: "not.a.token"}
	e.do(t, forged, "GET", "/v1/products/"+p.ID, nil).wantProblem(t, http.StatusUnauthorized, "invalid_token")
	e.do(t, forged, "POST", "/v1/products", productOf("tokens", nil)).wantProblem(t, http.StatusUnauthorized, "invalid_token")
}

func testWritesNeedTheCurrentVersion(t *testing.T, e *testEnv) {
	e.mustCategory(t, "versions", "")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("versions", nil))
	e.mustPatch(t, seller, p.ID, 1, map[string]any{"title": "Second"})
	patch := map[string]any{"title": "Third"}
	path := "/v1/products/" + p.ID
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		ifMatch []string
		status  int
		code    string
	}{
		{"a change without If-Match", "PATCH", path, patch, nil, http.StatusPreconditionRequired, "if_match_required"},
		{"archiving without If-Match", "POST", path + "/archive", nil, nil, http.StatusPreconditionRequired, "if_match_required"},
		{"a change of a version since replaced", "PATCH", path, patch, []string{"If-Match", `"1"`}, http.StatusPreconditionFailed, "stale_version"},
		{"archiving a version since replaced", "POST", path + "/archive", nil, []string{"If-Match", `"1"`}, http.StatusPreconditionFailed, "stale_version"},
		{"a change of a version yet to come", "PATCH", path, patch, []string{"If-Match", `"3"`}, http.StatusPreconditionFailed, "stale_version"},
		{"an unquoted version", "PATCH", path, patch, []string{"If-Match", `2`}, http.StatusBadRequest, "invalid_if_match"},
		{"a weak ETag", "PATCH", path, patch, []string{"If-Match", `W/"2"`}, http.StatusBadRequest, "invalid_if_match"},
		{"a wildcard", "PATCH", path, patch, []string{"If-Match", `*`}, http.StatusBadRequest, "invalid_if_match"},
		{"a word", "PATCH", path, patch, []string{"If-Match", `"two"`}, http.StatusBadRequest, "invalid_if_match"},
		{"version zero", "PATCH", path, patch, []string{"If-Match", `"0"`}, http.StatusBadRequest, "invalid_if_match"},
		{"two ETags", "PATCH", path, patch, []string{"If-Match", `"1", "2"`}, http.StatusBadRequest, "invalid_if_match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, seller, tt.method, tt.path, tt.body, tt.ifMatch...).wantProblem(t, tt.status, tt.code)
		})
	}
	if got := e.mustGet(t, seller, p.ID); got.Version != 2 || got.Title != "Second" || got.Status != "active" {
		t.Errorf("after refused writes: %+v, want Second at version 2", got)
	}
	if got := e.mustPatch(t, seller, p.ID, 2, patch); got.Version != 3 || got.Title != "Third" {
		t.Errorf("the current version's change gave %+v", got)
	}
}

func testOfConcurrentWritesToOneVersionExactlyOneWins(t *testing.T, e *testEnv) {
	e.mustCategory(t, "contested", "")
	seller := e.seller(t)
	p := e.mustCreate(t, seller, productOf("contested", nil))
	const n = 20
	rs := e.concurrently(t, n, func(i int) (caller, string, string, any, []string) {
		return seller, "PATCH", "/v1/products/" + p.ID, map[string]any{"title": "Writer " + strconv.Itoa(i)}, []string{"If-Match", `"1"`}
	})
	if diff := cmp.Diff(map[int]int{http.StatusOK: 1, http.StatusPreconditionFailed: n - 1}, statuses(rs)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	var winner productBody
	for _, r := range rs {
		if r.Status == http.StatusOK {
			r.decode(t, &winner)
		} else {
			r.wantProblem(t, http.StatusPreconditionFailed, "stale_version")
		}
	}
	if got := e.mustGet(t, anonymous, p.ID); got.Version != 2 || got.Title != winner.Title {
		t.Errorf("stored %q at version %d, want the winner's %q at 2", got.Title, got.Version, winner.Title)
	}
}

func testETagsFollowTheVersionAndIfNoneMatchAnswers304(t *testing.T, e *testEnv) {
	e.mustCategory(t, "etags", "")
	seller := e.seller(t)
	r := e.do(t, seller, "POST", "/v1/products", productOf("etags", nil)).want(t, http.StatusCreated)
	var p productBody
	r.decode(t, &p)
	if r.Header.Get("ETag") != `"1"` || r.Header.Get("Location") != "/v1/products/"+p.ID {
		t.Errorf("create: ETag %q Location %q", r.Header.Get("ETag"), r.Header.Get("Location"))
	}
	path := "/v1/products/" + p.ID
	if got := e.do(t, anonymous, "GET", path, nil).want(t, http.StatusOK).Header.Get("ETag"); got != `"1"` {
		t.Errorf("GET ETag %q, want \"1\"", got)
	}
	changed := e.do(t, seller, "PATCH", path, map[string]any{"price": map[string]any{"amount": 2999, "currency": "EUR"}}, "If-Match", `"1"`).
		want(t, http.StatusOK)
	if got := changed.Header.Get("ETag"); got != `"2"` {
		t.Errorf("PATCH ETag %q, want \"2\"", got)
	}
	// A patch that changes nothing keeps the version.
	same := e.mustPatch(t, seller, p.ID, 2, map[string]any{"price": map[string]any{"amount": 2999, "currency": "EUR"}})
	if same.Version != 2 {
		t.Errorf("a patch changing nothing moved the version to %d", same.Version)
	}
	notModified := e.do(t, anonymous, "GET", path, nil, "If-None-Match", `"2"`)
	notModified.want(t, http.StatusNotModified)
	if len(notModified.Body) != 0 || notModified.Header.Get("ETag") != `"2"` {
		t.Errorf("304 with body %q and ETag %q", notModified.Body, notModified.Header.Get("ETag"))
	}
	var fresh productBody
	full := e.do(t, anonymous, "GET", path, nil, "If-None-Match", `"1"`).want(t, http.StatusOK)
	full.decode(t, &fresh)
	if fresh.Version != 2 || fresh.Price.Amount != 2999 || full.Header.Get("ETag") != `"2"` {
		t.Errorf("GET after a stale If-None-Match: %+v, ETag %q", fresh, full.Header.Get("ETag"))
	}
}

func testConcurrentCreatesAllSucceedWithDistinctIDs(t *testing.T, e *testEnv) {
	e.mustCategory(t, "crowd", "")
	seller := e.seller(t)
	const n = 30
	rs := e.concurrently(t, n, func(i int) (caller, string, string, any, []string) {
		return seller, "POST", "/v1/products", productOf("crowd", map[string]any{"title": "Crowd " + strconv.Itoa(i)}), nil
	})
	if diff := cmp.Diff(map[int]int{http.StatusCreated: n}, statuses(rs)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	var created []string
	for _, r := range rs {
		var p productBody
		r.decode(t, &p)
		created = append(created, p.ID)
	}
	slices.Sort(created)
	if len(slices.Compact(slices.Clone(created))) != n {
		t.Fatalf("ids are not distinct: %v", created)
	}
	listed := ids(e.storedOf(t, seller))
	slices.Sort(listed)
	if diff := cmp.Diff(created, listed); diff != "" {
		t.Errorf("listed ids (-created +listed):\n%s", diff)
	}
}
