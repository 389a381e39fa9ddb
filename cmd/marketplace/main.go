// Command marketplace is the one binary of the marketplace platform. Its
// subcommands serve the modules (all in one process, or the ones chosen
// with --target), apply database migrations, administer accounts, generate
// load, and write the configuration reference. Every module is declared
// once, in the module table (modules.go).
package main

//go:generate go run . docs --config-out=../../docs/configuration.md --readme=../../README.md

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/marketplace-go/marketplace/internal/users/password"
)

func main() {
	if password.IsWorker() { // started by the users service to hash passwords (ADR 35)
		os.Exit(password.ServeWorker())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, nil)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "marketplace:", err)
		os.Exit(1)
	}
}

// binary is the program over a module table, an environment and an
// output: main runs it over the table, the process's environment and
// stdout; tests over their own.
type binary struct {
	modules []module
	getenv  func(string) (string, bool)
	out     io.Writer
	// ready, when set, gets the bound addresses by module (and "metrics")
	// once serve listens.
	ready func(map[string]string)
}

// run is main without the process: tests call it with their own
// environment and output, and get the bound addresses through ready.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer, ready func(map[string]string)) error {
	return binary{modules: table(), getenv: getenv, out: out, ready: ready}.run(ctx, args)
}

func (b binary) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(b.out, b.usage())
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return b.serve(ctx, args[1:])
	case "migrate":
		return b.migrate(ctx, args[1:])
	case "docs":
		return b.docs(args[1:])
	case "seed":
		return seedCmd(ctx, args[1:], b.getenv, b.out)
	case "grant-role":
		return grantRole(ctx, args[1:], b.getenv, b.out)
	case "loadgen":
		return loadgenCmd(ctx, args[1:], b.out)
	case "reindex":
		return reindexCmd(ctx, args[1:], b.getenv, b.out)
	case "healthcheck":
		return healthcheckCmd(ctx, args[1:], b.out)
	case "version", "--version":
		return printVersion(b.out)
	case "help", "-h", "--help":
		fmt.Fprint(b.out, b.usage())
		return nil
	default:
		fmt.Fprint(b.out, b.usage())
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func (b binary) usage() string {
	return `usage: marketplace <command> [flags]

commands:
  serve       run modules (--target=all, or some of ` + strings.Join(names(b.modules), ",") + `)
  migrate     apply every module's migrations and exit
  seed        load the demo catalog (sellers, categories, 2,000 products)
  grant-role  give a role to an account: grant-role --email=E --role=admin
  loadgen     send a load of shopper scenarios to a gateway and report (loadgen -h)
  reindex     have the search service read the whole catalog into its index (--search-url)
  docs        print the configuration reference (docs -h)
  healthcheck exit 0 if a URL answers 2xx (--url=http://127.0.0.1:8080/readyz): the image's health check
  version     print the version and commit of this build
`
}
