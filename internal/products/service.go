package products

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/tracing"
)

// Client-facing errors.
var (
	errProductNotFound = errs.New(errs.NotFound, "product_not_found", "no such product")
	errSellerOnly      = errs.New(errs.Forbidden, "seller_only", "only sellers may list products")
	errAdminOnly       = errs.New(errs.Forbidden, "admin_only", "this action needs the admin role")
	errStale           = errs.New(errs.PreconditionFailed, "stale_version", "the product changed since you read it; read it again and retry")
	errArchived        = errs.New(errs.Conflict, "product_archived", "archived products cannot be changed")
	errUnknownCategory = errs.Validation(map[string]string{"category": "is not a known category"})
	errUnknownParent   = errs.Validation(map[string]string{"parent": "is not a known category"})
	errCycle           = errs.New(errs.Conflict, "category_cycle", "a category cannot be its own ancestor")
)

// Service implements the catalog use cases.
type Service struct {
	store   Store
	cache   Cache
	log     *slog.Logger
	ttl     time.Duration
	now     func() time.Time
	missed  missed // invalidations Redis missed; see cacheCurrent
	onWrite func()
}

// OnWrite registers f to be called after every write that left an event
// to publish (the relay's Notify). Call it before the service is used.
func (s *Service) OnWrite(f func()) { s.onWrite = f }

// NewService returns a Service. Cached reads live at most ttl.
func NewService(store Store, cache Cache, log *slog.Logger, ttl time.Duration) *Service {
	return &Service{store: store, cache: cache, log: log, ttl: ttl, now: time.Now}
}

// Create lists a new product for the calling seller (or admin); the seller
// is always the caller, never a field of the request.
func (s *Service) Create(ctx context.Context, c auth.Claims, d Draft) (Product, error) {
	p, ev, err := s.newProduct(ctx, c, d)
	if err != nil {
		return Product{}, err
	}
	if err := s.store.InsertProduct(ctx, p, ev); err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	s.written(ctx, p)
	return p, nil
}

// NewProduct is one product of a bulk load: its draft and the seller it is
// created for.
type NewProduct struct {
	Seller auth.Claims
	Draft  Draft
}

// CreateMany creates products in one store write, for bulk loads such as
// the demo seed, where one write per product made 100,000 products take
// hours. Each is checked as Create checks it, and none is written unless
// every one passes.
func (s *Service) CreateMany(ctx context.Context, items []NewProduct) ([]Product, error) {
	ps, evs := make([]Product, len(items)), make([]PendingEvent, len(items))
	for i, it := range items {
		p, ev, err := s.newProduct(ctx, it.Seller, it.Draft)
		if err != nil {
			return nil, fmt.Errorf("product %d: %w", i, err)
		}
		ps[i], evs[i] = p, ev
	}
	if err := s.store.InsertProducts(ctx, ps, evs); err != nil {
		return nil, fmt.Errorf("create products: %w", err)
	}
	for _, p := range ps {
		s.written(ctx, p)
	}
	return ps, nil
}

// newProduct checks a draft for its seller and makes the product, at
// version 1, with its creation event.
func (s *Service) newProduct(ctx context.Context, c auth.Claims, d Draft) (Product, PendingEvent, error) {
	if !c.HasRole(auth.RoleSeller) && !c.HasRole(auth.RoleAdmin) {
		return Product{}, PendingEvent{}, errSellerOnly
	}
	if err := d.validate(); err != nil {
		return Product{}, PendingEvent{}, err
	}
	if err := s.checkCategory(ctx, d.Category); err != nil {
		return Product{}, PendingEvent{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond) // BSON dates hold milliseconds
	p := Product{ID: uuid.Must(uuid.NewV7()).String(), SellerID: c.UserID, Title: d.Title, Description: d.Description,
		Category: d.Category, Price: d.Price, Images: orEmpty(d.Images), Attributes: orEmptyMap(d.Attributes),
		Status: d.Status, Version: 1, CreatedAt: now, UpdatedAt: now}
	ev, err := newEvent(ctx, contracts.ProductCreated, p, contracts.ProductCreatedV1{Product: snapshot(p)})
	if err != nil {
		return Product{}, PendingEvent{}, err
	}
	return p, ev, nil
}

// Get returns a product the caller may see: active ones to anyone, others
// to their seller and admins. Anything else is "not found", so that no one
// learns that a hidden product exists.
func (s *Service) Get(ctx context.Context, c *auth.Claims, id string) (Product, error) {
	var p Product
	key := s.detailKey(ctx, id)
	err := s.cached(ctx, key, &p, func(ctx context.Context) (any, error) { return s.store.Product(ctx, id) })
	if errors.Is(err, ErrNotFound) || err == nil && !canSee(c, p) {
		return Product{}, errProductNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, nil
}

// written runs what follows every product write.
func (s *Service) written(ctx context.Context, p Product) {
	s.invalidate(ctx, detailEntry(p.ID))
	if s.onWrite != nil {
		s.onWrite()
	}
}

func canSee(c *auth.Claims, p Product) bool {
	return p.Status == StatusActive || owns(c, p)
}

func owns(c *auth.Claims, p Product) bool {
	return c != nil && (c.UserID == p.SellerID || c.HasRole(auth.RoleAdmin))
}

// Update applies a patch if the caller owns the product and read its
// current version (ifMatch); a stale version gets 412.
func (s *Service) Update(ctx context.Context, c auth.Claims, id string, ifMatch int64, patch Patch) (Product, error) {
	if err := patch.validate(); err != nil {
		return Product{}, err
	}
	if patch.Category != nil {
		if err := s.checkCategory(ctx, *patch.Category); err != nil {
			return Product{}, err
		}
	}
	return s.change(ctx, c, id, ifMatch, func(p *Product) ([]string, string, any) {
		changed := patch.apply(p)
		return changed, contracts.ProductUpdated, contracts.ProductUpdatedV1{Changed: changed, Product: snapshot(*p)}
	})
}

// Archive withdraws a product from sale for good.
func (s *Service) Archive(ctx context.Context, c auth.Claims, id string, ifMatch int64) (Product, error) {
	return s.change(ctx, c, id, ifMatch, func(p *Product) ([]string, string, any) {
		p.Status = StatusArchived
		return []string{"status"}, contracts.ProductArchived, contracts.ProductArchivedV1{Product: snapshot(*p)}
	})
}

// change loads a product fresh, checks ownership, state and version,
// applies edit and writes it with its event in one document write.
func (s *Service) change(ctx context.Context, c auth.Claims, id string, ifMatch int64,
	edit func(*Product) (changed []string, eventType string, payload any)) (Product, error) {
	p, err := s.store.Product(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound) || err == nil && !owns(&c, p):
		return Product{}, errProductNotFound
	case err != nil:
		return Product{}, fmt.Errorf("load product %s: %w", id, err)
	case p.Version != ifMatch:
		return Product{}, errStale
	case p.Status == StatusArchived:
		return Product{}, errArchived
	}
	before := p
	p.Version++
	p.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	changed, typ, payload := edit(&p)
	if len(changed) == 0 {
		return before, nil
	}
	ev, err := newEvent(ctx, typ, p, payload)
	if err != nil {
		return Product{}, err
	}
	switch err := s.store.ReplaceProduct(ctx, p, ev); {
	case errors.Is(err, ErrVersionConflict):
		return Product{}, errStale
	case errors.Is(err, ErrNotFound):
		return Product{}, errProductNotFound
	case err != nil:
		return Product{}, fmt.Errorf("update product %s: %w", id, err)
	}
	s.written(ctx, p)
	return p, nil
}

// apply changes p and returns the JSON names of the fields that changed.
func (patch Patch) apply(p *Product) []string {
	var changed []string
	set := func(name string, differs bool, assign func()) {
		if differs {
			assign()
			changed = append(changed, name)
		}
	}
	if v := patch.Title; v != nil {
		set("title", *v != p.Title, func() { p.Title = *v })
	}
	if v := patch.Description; v != nil {
		set("description", *v != p.Description, func() { p.Description = *v })
	}
	if v := patch.Category; v != nil {
		set("category", *v != p.Category, func() { p.Category = *v })
	}
	if v := patch.Price; v != nil {
		set("price", *v != p.Price, func() { p.Price = *v })
	}
	if v := patch.Images; v != nil {
		set("images", !slices.Equal(*v, p.Images), func() { p.Images = orEmpty(*v) })
	}
	if v := patch.Attributes; v != nil {
		set("attributes", !jsonEqual(*v, p.Attributes), func() { p.Attributes = orEmptyMap(*v) })
	}
	if v := patch.Status; v != nil {
		set("status", *v != p.Status, func() { p.Status = *v })
	}
	return changed
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func snapshot(p Product) contracts.ProductV1 {
	return contracts.ProductV1{ID: p.ID, SellerID: p.SellerID, Title: p.Title, Description: p.Description, Category: p.Category,
		Price: p.Price.Amount, Currency: p.Price.Currency, Images: p.Images, Attributes: p.Attributes, Status: p.Status,
		Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// newEvent builds the event of a change to p, keeping the trace context of
// ctx so that the relay publishes it in the trace of the change.
func newEvent(ctx context.Context, typ string, p Product, payload any) (PendingEvent, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return PendingEvent{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	return PendingEvent{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Version: contracts.ProductEventVersion,
		Subject: p.ID, Seq: p.Version, Time: p.UpdatedAt, Data: data, Trace: tracing.Carrier(ctx)}, nil
}
