package searchindex

import (
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/marketplace-go/marketplace/internal/search"
)

// A page's products, decoded once per segment.
//
// Each hit of a page is read from its segment's stored fields (a
// snappy-compressed block per document) and decoded from JSON. In a
// profile of the mixed load at 900 requests/s that was a fifth of the
// listings' and searches' CPU (2.1 of 9.5 CPU-seconds), for the same few
// thousand products again and again. A segment never changes once
// written, so a document decoded once is that document's product for as
// long as its segment lives: the products are kept beside the segment's
// columns and dropped with them (columns.pruneLocked). ADR 66.

// maxProducts bounds the products kept across all segments, so that a
// crawl of a large catalog's every page costs no more memory than this
// (a product like the demo's takes about 0.9 KB decoded, its description
// more); past it, a hit is decoded on every read, as before.
const maxProducts = 10_000

// segmentProducts are one segment's decoded products by local document
// number (nil until first read), and how many there are.
type segmentProducts struct {
	slots []atomic.Pointer[search.Product]
	kept  atomic.Int64
}

// products are the live segments' segmentProducts by segment id, and how
// many products they keep in all (recounted whenever a segment is
// dropped), at most limit.
type products struct {
	bySegment map[uint64]*segmentProducts
	kept      atomic.Int64
	limit     int64
}

// product returns local document d of segment ss, in snapshot snap: the
// one decoded before, or decode's, which it keeps while there is room.
func (c *columns) product(snap *scorch.IndexSnapshot, ss *scorch.SegmentSnapshot, d uint64,
	decode func() (*search.Product, error)) (*search.Product, error) {
	seg := c.segmentProducts(snap, ss)
	if p := seg.slots[d].Load(); p != nil {
		return p, nil
	}
	p, err := decode()
	if err != nil {
		return nil, err
	}
	if c.products.kept.Load() < c.products.limit && seg.slots[d].CompareAndSwap(nil, p) {
		seg.kept.Add(1)
		c.products.kept.Add(1)
	}
	return p, nil
}

// segmentProducts are segment ss's products, made on its first read.
func (c *columns) segmentProducts(snap *scorch.IndexSnapshot, ss *scorch.SegmentSnapshot) *segmentProducts {
	c.mu.Lock()
	defer c.mu.Unlock()
	seg, ok := c.products.bySegment[ss.Id()]
	if !ok {
		seg = &segmentProducts{slots: make([]atomic.Pointer[search.Product], ss.Segment().Count())}
		c.products.bySegment[ss.Id()] = seg
		c.pruneLocked(snap)
	}
	return seg
}

// keepOnlyLocked drops the products of every segment not in live.
func (p *products) keepOnlyLocked(live map[uint64]bool) {
	var kept int64
	for id, seg := range p.bySegment {
		if !live[id] {
			delete(p.bySegment, id)
			continue
		}
		kept += seg.kept.Load()
	}
	p.kept.Store(kept)
}
