package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/products/productsrv"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// targets are the services serve can run; "all" means every one of them.
var targets = []string{"products", "users"}

func serve(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer, ready func(map[string]string)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	target := fs.String("target", "all", "services to run: all, or a comma-separated list of "+strings.Join(targets, ", "))
	fs.StringVar(&cfg.Users.Addr, "users-addr", cfg.Users.Addr, "listen address of the users service (USERS_ADDR)")
	fs.StringVar(&cfg.Products.Addr, "products-addr", cfg.Products.Addr, "listen address of the products service (PRODUCTS_ADDR)")
	noMigrate := fs.Bool("no-migrate", !cfg.Users.Migrate, "do not apply migrations on start (MIGRATE_ON_START=false)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Users.Migrate = !*noMigrate
	chosen, err := parseTargets(*target)
	if err != nil {
		return err
	}
	log := observability.NewLogger(out, cfg.LogLevel)
	reg := observability.NewRegistry()
	srv := server.New(log, reg, cfg.ShutdownTimeout)
	srv.SetDrainDelay(cfg.ShutdownDelay)
	addrs, err := startModules(ctx, cfg, chosen, log, reg, srv)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(addrs)
	}
	return srv.Run(ctx)
}

func parseTargets(s string) ([]string, error) {
	var chosen []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "all":
			chosen = append(chosen, targets...)
		case slices.Contains(targets, t):
			chosen = append(chosen, t)
		default:
			return nil, fmt.Errorf("--target: unknown service %q (want all or %s)", t, strings.Join(targets, ", "))
		}
	}
	slices.Sort(chosen)
	return slices.Compact(chosen), nil
}

// startModules builds each chosen service and binds its listener. On error
// the modules already built are closed.
func startModules(ctx context.Context, cfg rootConfig, chosen []string, log *slog.Logger, reg prometheus.Registerer, srv *server.Server) (map[string]string, error) {
	addrs := map[string]string{}
	var built []server.Module
	fail := func(err error) (map[string]string, error) {
		for _, m := range built {
			m.Close()
		}
		return nil, err
	}
	for _, name := range chosen {
		m, err := buildModule(ctx, cfg, name, log, reg)
		if err != nil {
			return fail(err)
		}
		built = append(built, m)
		addr, err := srv.Add(m)
		if err != nil {
			return fail(err)
		}
		addrs[name] = addr.String()
	}
	return addrs, nil
}

func buildModule(ctx context.Context, cfg rootConfig, name string, log *slog.Logger, reg prometheus.Registerer) (server.Module, error) {
	switch name {
	case "products":
		p, err := productsrv.New(ctx, cfg.Products, log, reg)
		if err != nil {
			return server.Module{}, err
		}
		return p.Module(cfg.Products.Addr), nil
	case "users":
		u, err := usersrv.New(ctx, cfg.Users, log)
		if err != nil {
			return server.Module{}, err
		}
		return u.Module(cfg.Users.Addr), nil
	}
	return server.Module{}, errors.New("unknown module " + name)
}
