package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// writeRequest is one caller's products waiting for the index writer.
type writeRequest struct {
	docs []Doc
	done chan error
}

// RunWriter writes the products that events bring into the index until
// ctx ends. Each index write waits for the disk, so the writer takes
// whatever has queued up meanwhile into one write (a group commit): the
// consumers' deliveries in flight cost one disk wait together, not one
// each.
func (s *Service) RunWriter(ctx context.Context) {
	for {
		var batch []writeRequest
		select {
		case <-ctx.Done():
			return
		case r := <-s.writes:
			batch = append(batch, r)
		}
		n := len(batch[0].docs)
	more:
		for n < s.cfg.MaxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
				n += len(r.docs)
			default:
				break more
			}
		}
		s.commit(ctx, batch)
	}
}

func (s *Service) commit(ctx context.Context, batch []writeRequest) {
	var docs []Doc
	for _, r := range batch {
		docs = append(docs, r.docs...)
	}
	applied, err := s.engine.Apply(ctx, docs)
	s.unmerged.Add(int64(len(applied)))
	if err == nil && s.OnApplied != nil && len(applied) > 0 {
		s.OnApplied(applied, true)
	}
	for _, r := range batch {
		r.done <- err
	}
}

// write hands docs to the writer and waits until they are durable.
func (s *Service) write(ctx context.Context, docs []Doc) error {
	r := writeRequest{docs: docs, done: make(chan error, 1)}
	select {
	case s.writes <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ApplyProductEvent indexes the product a product event carries. Delivery
// is at least once and in no guaranteed order: the index keeps, per
// product, the highest version it has seen, so a duplicate or an older
// event changes nothing. An event from before the events carried whole
// products is acknowledged and flags the index as behind, for a catch-up
// to read the product; an unknown payload version fails, so that it is
// dead-lettered rather than misread.
func (s *Service) ApplyProductEvent(ctx context.Context, e events.Event) error {
	if e.Version != contracts.ProductEventVersion {
		return fmt.Errorf("product event %s: payload version %d not understood", e.ID, e.Version)
	}
	var body struct {
		Product contracts.ProductV1 `json:"product"`
	}
	if err := json.Unmarshal(e.Data, &body); err != nil {
		return fmt.Errorf("product event %s: %w", e.ID, err)
	}
	v := body.Product
	if v.ID == "" || v.Version < 1 {
		return fmt.Errorf("product event %s: no product in it", e.ID)
	}
	if !v.Complete() {
		s.MarkBehind()
		return nil
	}
	if err := s.write(ctx, []Doc{s.doc(fromEvent(v))}); err != nil {
		return fmt.Errorf("product event %s: index: %w", e.ID, err)
	}
	return nil
}

func fromEvent(v contracts.ProductV1) Product {
	p := Product{ID: v.ID, SellerID: v.SellerID, Title: v.Title, Description: v.Description, Category: v.Category,
		Price: Money{Amount: v.Price, Currency: v.Currency}, Images: v.Images, Attributes: v.Attributes,
		Status: v.Status, Version: v.Version, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
	if p.Images == nil {
		p.Images = []string{}
	}
	if p.Attributes == nil {
		p.Attributes = map[string]any{}
	}
	return p
}

// MarkBehind asks for a catch-up from the products service soon; it never
// blocks.
func (s *Service) MarkBehind() {
	select {
	case s.behind <- struct{}{}:
	default:
	}
}

// Progress is how far a catch-up has read.
type Progress struct {
	Read    int64 `json:"read"`    // products read from the products service
	Total   int64 `json:"total"`   // products it held when the catch-up began
	Indexed int64 `json:"indexed"` // products the index did not hold at that version
}

// CatchUp reads every product from the products service, in one pass, and
// indexes those the index lacks or holds at an older version. Events
// keep flowing meanwhile; versions decide between the two. progress, if
// not nil, is called after each batch.
func (s *Service) CatchUp(ctx context.Context, progress func(Progress)) (Progress, error) {
	if !s.rebuild.TryLock() {
		return Progress{}, errReindexRunning
	}
	defer s.rebuild.Unlock()
	sum, err := s.source.Summary(ctx)
	if err != nil {
		return Progress{}, fmt.Errorf("catch up: %w", err)
	}
	p := Progress{Total: sum.Products}
	err = s.source.Export(ctx, s.cfg.PageSize, func(batch []Product) error {
		docs := make([]Doc, len(batch))
		for i, prod := range batch {
			docs[i] = s.doc(prod)
		}
		applied, err := s.engine.Apply(ctx, docs)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		s.unmerged.Add(int64(len(applied)))
		if s.OnApplied != nil && len(applied) > 0 {
			s.OnApplied(applied, false)
		}
		p.Read, p.Indexed = p.Read+int64(len(batch)), p.Indexed+int64(len(applied))
		if progress != nil {
			progress(p)
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("catch up: %w", err)
	}
	s.compactIfDue(ctx)
	return p, nil
}

// compactAfter is the fewest products written since the last compaction
// that make compactIfDue compact, however small the index.
const compactAfter = 1000

// compactIfDue compacts the index once the products written to it since
// it was last compacted number at least a tenth of it (and compactAfter):
// a build, a reindex, a bulk seed's events. Bleve's own merges leave such
// writes in many segments, each of which every search visits; merged into
// one, searches of 100,000 products took a third less time
// (bench/results/search.md). At 100 writes a second it compacts every ten
// minutes, taking about 5 s of one core for 100,000 products. A failure
// is logged, not returned: the index is whole either way, only slower to
// search.
func (s *Service) compactIfDue(ctx context.Context) {
	if !s.compacting.TryLock() {
		return // a reindex and the periodic check may both get here
	}
	defer s.compacting.Unlock()
	written := s.unmerged.Load()
	if written < max(compactAfter, s.engine.Stats().Products/10) {
		return
	}
	start, before := time.Now(), s.engine.Stats().Segments
	if err := s.engine.Compact(ctx); err != nil {
		s.log.WarnContext(ctx, "search: compact the index", "err", err)
		return
	}
	s.unmerged.Add(-written) // writes made meanwhile count towards the next
	s.log.InfoContext(ctx, "search: index compacted", "written", written, "segments_before", before,
		"segments", s.engine.Stats().Segments, "took", time.Since(start).Round(time.Millisecond))
}

// Behind reports whether the index lacks writes the products service has
// made: it reads the products service's summary, waits Settle for the
// events of those writes to arrive, and compares the index with it.
//
// It also warns of an index ahead of the catalog, which only a catalog
// that lost writes (restored from a backup) can cause, and it judges that
// from the index as it was before the summary was read. The products
// service publishes an event only once its write is stored, products are
// never deleted and versions only rise, so the index read first cannot
// count more products nor versions than the catalog read after it. The
// index read after Settle can, and often does: it also holds the writes
// made while Settle ran. Compared with the summary, those raised the
// warning under a steady stream of listings (the fault suite's seller,
// once the search or products process came back, issue 14) although
// nothing was wrong.
func (s *Service) Behind(ctx context.Context) (bool, error) {
	before := s.engine.Stats()
	sum, err := s.source.Summary(ctx)
	if err != nil {
		return false, fmt.Errorf("read the catalog summary: %w", err)
	}
	if before.Products > sum.Products || before.VersionSum > sum.VersionSum {
		s.log.WarnContext(ctx, "search: the index holds writes the catalog does not (a catalog restored from a backup?); reindex into an empty DATA_DIR to drop them",
			"index_products", before.Products, "catalog_products", sum.Products,
			"index_version_sum", before.VersionSum, "catalog_version_sum", sum.VersionSum)
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(s.cfg.Settle):
	}
	st := s.engine.Stats()
	return st.Products < sum.Products || st.VersionSum < sum.VersionSum, nil
}

// Maintain keeps the index whole until ctx ends: it builds an empty index
// from the products service at once, and at start (for an index kept from
// before), every interval, and when an event flagged the index as behind,
// it checks the index against the products service and catches up if it
// is behind. Failures are retried with
// backoff; meanwhile the index answers with what it has.
func (s *Service) Maintain(ctx context.Context, interval time.Duration) {
	if s.engine.Stats().Products > 0 {
		// An index kept from before answers at once, and is checked at
		// once: events may have been lost while it was down.
		s.ready.Store(true)
		s.MarkBehind()
	} else {
		s.retry(ctx, "build the index", func() error { _, err := s.CatchUp(ctx, nil); return err })
		s.ready.Store(true)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.behind:
		}
		s.retry(ctx, "catch up with the catalog", func() error {
			behind, err := s.Behind(ctx)
			if err != nil || !behind {
				return err
			}
			p, err := s.CatchUp(ctx, nil)
			if err == nil {
				s.log.InfoContext(ctx, "search: caught up with the catalog", "read", p.Read, "indexed", p.Indexed)
			}
			return err
		})
		s.compactIfDue(ctx) // events' writes too
	}
}

// retry runs f until it succeeds or ctx ends, waiting longer after each
// failure, up to a minute. A running reindex counts as success: it does
// the same.
func (s *Service) retry(ctx context.Context, what string, f func() error) {
	wait := 500 * time.Millisecond
	for {
		err := f()
		if err == nil || errors.Is(err, errReindexRunning) || ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "search: cannot "+what+"; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}
