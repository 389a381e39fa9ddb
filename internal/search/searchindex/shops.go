package searchindex

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/blevesearch/bleve/v2"

	"github.com/marketplace-go/marketplace/internal/search"
)

// ApplyShops records each shop unless the index holds the same or a newer
// version of it (of two in shops for one seller, the newer), and
// re-indexes the products of each seller it records, as doc builds them,
// under the new name. The shops and those products are one batch: a crash
// leaves either the old name everywhere or the new one, and never a
// recorded shop whose products still carry the old name. Product writes
// wait meanwhile (they take the same lock), so none can slip in with the
// old name after the new one is read.
func (x *Index) ApplyShops(ctx context.Context, shops []search.Shop, doc func(search.Product) search.Doc) ([]search.Shop, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	newest := map[string]search.Shop{}
	for _, sh := range shops {
		if n, ok := newest[sh.SellerID]; ok && n.Version >= sh.Version {
			continue
		}
		if held, ok := x.Shop(sh.SellerID); ok && held.Version >= sh.Version {
			continue
		}
		newest[sh.SellerID] = sh
	}
	if len(newest) == 0 {
		return nil, nil
	}
	x.statsMu.RLock()
	all := maps.Clone(x.shops)
	x.statsMu.RUnlock()
	b := x.idx.NewBatch()
	for _, seller := range slices.Sorted(maps.Keys(newest)) {
		all[seller] = newest[seller]
		if err := x.reindexSeller(ctx, b, seller, newest[seller].Name, doc); err != nil {
			return nil, err
		}
	}
	blob, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("searchindex: encode shops: %w", err)
	}
	b.SetInternal([]byte(shopsKey), blob)
	if err := x.idx.Batch(b); err != nil {
		return nil, fmt.Errorf("searchindex: write %d shops: %w", len(newest), err)
	}
	x.statsMu.Lock()
	x.shops = all
	x.statsMu.Unlock()
	return slices.Collect(maps.Values(newest)), nil
}

// reindexSeller adds to b every product of seller the index holds, as doc
// builds it, under the shop name shop.
func (x *Index) reindexSeller(ctx context.Context, b *bleve.Batch, seller, shop string, doc func(search.Product) search.Doc) error {
	const page = 1000
	var after []string
	for {
		req := bleve.NewSearchRequestOptions(anyTerm("seller", seller), page, 0, false)
		req.Fields = []string{"src"}
		req.SortBy([]string{"_id"})
		req.Score = "none"
		if after != nil {
			req.SearchAfter = after
		}
		res, err := x.idx.SearchInContext(ctx, req)
		if err != nil {
			return fmt.Errorf("searchindex: read the products of seller %s: %w", seller, err)
		}
		for _, h := range res.Hits {
			var p search.Product
			src, _ := h.Fields["src"].(string)
			if err := json.Unmarshal([]byte(src), &p); err != nil {
				return fmt.Errorf("searchindex: decode %s: %w", h.ID, err)
			}
			body, err := document(doc(p), shop)
			if err != nil {
				return err
			}
			if err := b.Index(p.ID, body); err != nil {
				return fmt.Errorf("searchindex: index %s: %w", p.ID, err)
			}
		}
		if len(res.Hits) < page {
			return nil
		}
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
}

// Shop is the shop of seller the index holds, if any.
func (x *Index) Shop(seller string) (search.Shop, bool) {
	x.statsMu.RLock()
	defer x.statsMu.RUnlock()
	sh, ok := x.shops[seller]
	return sh, ok
}

func (x *Index) shopName(seller string) string {
	sh, _ := x.Shop(seller)
	return sh.Name
}
