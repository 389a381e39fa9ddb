package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/orderdb"
	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/products/seed"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// seedPassword is the password of the demo sellers: a demo catalog is for
// local runs, and its sellers must be able to log in.
const seedPassword = "demo-seller-password-1"

// seedCmd loads the demo catalog: sellers (as user accounts with shops),
// the category tree and the products. Running it twice adds nothing.
func seedCmd(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer) error {
	e := config.FromLookup(getenv)
	process, shared := loadProcess(e), config.LoadShared(e)
	usersCfg, productsCfg, ordersCfg := usersrv.LoadConfig(e, shared), productsrv.LoadConfig(e, shared), ordersrv.LoadConfig(e, shared)
	if err := e.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(out)
	n := fs.Int("products", 2000, "number of products")
	sellers := fs.Int("sellers", 4, "number of sellers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := observability.NewLogger(io.Discard, process.LogLevel)
	u, err := usersrv.New(ctx, usersCfg, server.Deps{Log: log})
	if err != nil {
		return err
	}
	defer u.Close()
	p, err := productsrv.New(ctx, productsCfg, server.Deps{Log: log})
	if err != nil {
		return err
	}
	defer p.Close()
	ids, err := seedSellers(ctx, u.Service, *sellers)
	if err != nil {
		return err
	}
	admin := auth.Claims{UserID: ids[0], Roles: []string{auth.RoleAdmin}}
	for _, c := range seed.Categories {
		if _, _, err := p.Service.PutCategory(ctx, admin, c); err != nil {
			return fmt.Errorf("seed category %s: %w", c.ID, err)
		}
	}
	existing, err := p.Service.Summarise(ctx)
	if err != nil {
		return err
	}
	if existing.Products > 0 {
		fmt.Fprintln(out, "the catalog is not empty: the demo catalog is already loaded")
		return nil
	}
	stock, closeStock, err := ordersrv.OpenStore(ctx, ordersCfg, log)
	if err != nil {
		return err
	}
	defer closeStock()
	if err := seedProducts(ctx, p.Service, stock, ids, seed.Products(*n, len(ids))); err != nil {
		return err
	}
	fmt.Fprintf(out, "loaded %d categories and %d products from %d sellers (%s ... password %q)\n",
		len(seed.Categories), *n, len(ids), sellerEmail(1), seedPassword)
	return nil
}

func sellerEmail(i int) string { return fmt.Sprintf("seller%d@demo.example.com", i) }

// demoShop is the name of the shop of demo seller i (from 0): words no
// demo product uses, so that a search for a shop finds its products and
// nothing else. Past the four names, they repeat with a number, as shop
// names must be unique.
func demoShop(i int) string {
	names := [...]string{"Marigold Mercantile", "Hollowbrook Trading", "Kestrel & Wren", "Copperfield Goods"}
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s %d", names[i%len(names)], i/len(names)+1)
}

// seedSellers registers the demo sellers (or finds them) and opens shops.
func seedSellers(ctx context.Context, svc *users.Service, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range n {
		email := sellerEmail(i + 1)
		_, err := svc.Register(ctx, users.Registration{Email: email, Password: seedPassword, DisplayName: fmt.Sprintf("Demo Seller %d", i+1)})
		if err != nil && !errs.Is(err, "email_taken") {
			return nil, fmt.Errorf("seed seller %s: %w", email, err)
		}
		u, err := svc.GrantRoleByEmail(ctx, email, auth.RoleBuyer)
		if err != nil {
			return nil, fmt.Errorf("seed seller %s: %w", email, err)
		}
		c := auth.Claims{UserID: u.ID.String(), Roles: u.Roles}
		_, err = svc.BecomeSeller(ctx, c, demoShop(i))
		switch {
		case errs.Is(err, "already_seller") && u.ShopName == fmt.Sprintf("Demo Shop %d", i+1):
			// A demo seeded before the demo shops had names of their own.
			if _, err := svc.RenameShop(ctx, c, demoShop(i)); err != nil {
				return nil, fmt.Errorf("seed shop of %s: %w", email, err)
			}
		case err != nil && !errs.Is(err, "already_seller"):
			return nil, fmt.Errorf("seed shop of %s: %w", email, err)
		}
		ids[i] = u.ID.String()
	}
	return ids, nil
}

// seedBatch is how many products one write of the seed creates.
const seedBatch = 250

// seedProducts creates the products in batches on a few workers, with a
// progress bar when stderr is a terminal, and gives each some stock in the
// orders service (its product copy is written too, so it can be bought at
// once).
func seedProducts(ctx context.Context, svc *products.Service, stock *orderdb.Store, sellers []string, list []seed.Product) error {
	bar := progressbar.NewOptions(len(list), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("products"),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))), progressbar.OptionShowCount())
	defer bar.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for start := 0; start < len(list); start += seedBatch {
		batch := list[start:min(start+seedBatch, len(list))]
		g.Go(func() error {
			items := make([]products.NewProduct, len(batch))
			for i, sp := range batch {
				items[i] = products.NewProduct{Seller: auth.Claims{UserID: sellers[sp.Seller], Roles: []string{auth.RoleSeller}}, Draft: sp.Draft}
			}
			ps, err := svc.CreateMany(ctx, items)
			if err != nil {
				return fmt.Errorf("seed products %d to %d: %w", start, start+len(batch)-1, err)
			}
			if err := seedStock(ctx, stock, ps, start); err != nil {
				return fmt.Errorf("seed stock of products %d to %d: %w", start, start+len(batch)-1, err)
			}
			_ = bar.Add(len(ps))
			return nil
		})
	}
	return g.Wait()
}

// seedStock gives products (the start-th of the list first) their stock,
// in one transaction after their copies are saved.
func seedStock(ctx context.Context, store *orderdb.Store, ps []products.Product, start int) error {
	for _, p := range ps {
		cp := orders.Product{ID: p.ID, SellerID: p.SellerID, Title: p.Title, Status: p.Status, Version: p.Version,
			Price: orders.Money{Amount: p.Price.Amount, Currency: p.Price.Currency}}
		if _, err := store.SaveProduct(ctx, cp, ""); err != nil {
			return err
		}
	}
	return store.InTx(ctx, func(tx orders.Tx) error {
		for i, p := range ps {
			if _, err := tx.SetStock(ctx, p.ID, int64(5+(start+i)*7%50)); err != nil {
				return err
			}
		}
		return nil
	})
}
