package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/marketplace-go/marketplace/internal/platform/config"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// migrate applies every module's migrations, in start order, each to its
// own database.
func (b binary) migrate(ctx context.Context, args []string) error {
	mods, err := startOrder(b.modules)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(b.out)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadAll(b.getenv, mods)
	if err != nil {
		return err
	}
	log := observability.NewLogger(b.out, cfg.process.LogLevel)
	for _, m := range mods {
		if migrate := cfg.modules[m.name].migrate; migrate != nil {
			if err := migrate(ctx, log); err != nil {
				return err
			}
		}
	}
	log.Info("migrations applied")
	return nil
}

// grantRole gives a role to an account; it is how the first admin is made.
func grantRole(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer) error {
	e := config.FromLookup(getenv)
	process := loadProcess(e)
	users := usersrv.LoadConfig(e, config.LoadShared(e))
	if err := e.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	fs := flag.NewFlagSet("grant-role", flag.ContinueOnError)
	fs.SetOutput(out)
	email := fs.String("email", "", "email of the account")
	role := fs.String("role", "admin", "role to grant: buyer, seller or admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("grant-role: --email is required")
	}
	log := observability.NewLogger(io.Discard, process.LogLevel)
	u, err := usersrv.New(ctx, users, server.Deps{Log: log})
	if err != nil {
		return err
	}
	defer u.Close()
	user, err := u.Service.GrantRoleByEmail(ctx, *email, *role)
	if err != nil {
		return fmt.Errorf("grant-role: %w", err)
	}
	fmt.Fprintf(out, "%s now has roles %v\n", user.Email, user.Roles)
	return nil
}
