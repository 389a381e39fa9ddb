package search_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/search"
	"github.com/marketplace-go/marketplace/internal/search/searchindex"
)

// catalogAt is the products service as Behind reads it: a summary, and
// writes that land in the index once the summary is read (the events of
// listings made while the check settles).
type catalogAt struct {
	summary search.Summary
	after   func()
}

func (c catalogAt) Categories(context.Context) ([]search.Category, error) { return nil, nil }

func (c catalogAt) Export(context.Context, int, func([]search.Product) error) error { return nil }

func (c catalogAt) Summary(context.Context) (search.Summary, error) {
	if c.after != nil {
		c.after()
	}
	return c.summary, nil
}

const aheadWarning = "holds writes the catalog does not"

// TestTheBehindCheckWarnsOfAnIndexAheadOnlyWhenTheCatalogLostWrites: the
// fault suite (issue 14) logged the warning of an index ahead of the
// catalog while a seller listed products during the check's settling
// time, which is no inconsistency at all.
func TestTheBehindCheckWarnsOfAnIndexAheadOnlyWhenTheCatalogLostWrites(t *testing.T) {
	cases := []struct {
		name               string
		indexed, catalog   int // products at version 1
		listedWhileSettled int // products listed once the summary is read
		behind, warned     bool
	}{
		{"an index holding every write is neither behind nor ahead", 3, 3, 0, false, false},
		{"writes made while the check settles are no sign of a catalog that lost writes", 3, 3, 2, false, false},
		{"an index lacking writes is behind", 2, 3, 0, true, false},
		{"an index lacking writes is behind even when later writes arrive meanwhile", 1, 3, 1, true, false},
		{"an index holding writes the catalog lacks is reported", 4, 3, 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			engine := openIndex(t)
			apply(t, engine, tc.indexed)
			var log bytes.Buffer
			src := catalogAt{summary: search.Summary{Products: int64(tc.catalog), VersionSum: int64(tc.catalog)},
				after: func() { apply(t, engine, tc.listedWhileSettled) }}
			s := search.NewService(engine, src, nil, slog.New(slog.NewTextHandler(&log, nil)), search.Config{Settle: time.Millisecond})
			behind, err := s.Behind(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if behind != tc.behind {
				t.Errorf("behind %t, want %t", behind, tc.behind)
			}
			if warned := strings.Contains(log.String(), aheadWarning); warned != tc.warned {
				t.Errorf("warned %t, want %t; log: %s", warned, tc.warned, log.String())
			}
		})
	}
}

// openIndex opens an empty Bleve index, closed when the test ends.
func openIndex(t *testing.T) *searchindex.Index {
	t.Helper()
	engine, err := searchindex.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	return engine
}

// apply indexes n new active products at version 1.
func apply(t *testing.T, engine search.Engine, n int) {
	t.Helper()
	now := time.Now().UTC()
	docs := make([]search.Doc, n)
	for i := range docs {
		docs[i] = search.Doc{Product: search.Product{ID: uuid.Must(uuid.NewV7()).String(), SellerID: uuid.NewString(),
			Title: "Lamp", Category: "lamps", Price: search.Money{Amount: 1500, Currency: "EUR"}, Images: []string{},
			Attributes: map[string]any{}, Status: search.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}}
	}
	if _, err := engine.Apply(context.Background(), docs); err != nil {
		t.Fatalf("apply: %v", err)
	}
}
