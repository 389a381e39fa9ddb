package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/marketplace-go/marketplace/internal/orders/ordersrv"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// migrate applies every service's migrations to its own database.
func migrate(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := observability.NewLogger(out, cfg.LogLevel)
	if err := usersrv.Migrate(ctx, cfg.Users, log); err != nil {
		return err
	}
	if err := ordersrv.Migrate(ctx, cfg.Orders, log); err != nil {
		return err
	}
	log.Info("migrations applied")
	return nil
}

// grantRole gives a role to an account; it is how the first admin is made.
func grantRole(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
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
	log := observability.NewLogger(io.Discard, cfg.LogLevel)
	u, err := usersrv.New(ctx, cfg.Users, log)
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
