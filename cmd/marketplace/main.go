// Command marketplace is the one binary of the marketplace platform. Its
// subcommands serve the services (all in one process, or the ones chosen
// with --target), apply database migrations, administer accounts, and
// generate load.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
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

const usage = `usage: marketplace <command> [flags]

commands:
  serve       run services (--target=all, or some of users,products,orders,gateway)
  migrate     apply every service's database migrations and exit
  seed        load the demo catalog (sellers, categories, 2,000 products)
  grant-role  give a role to an account: grant-role --email=E --role=admin
  loadgen     send a load of shopper scenarios to a gateway and report (loadgen -h)
  reindex     have the search service read the whole catalog into its index (--search-url)
`

// run is main without the process: tests call it with their own
// environment and output, and get the bound addresses through ready.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer, ready func(map[string]string)) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, out, ready)
	case "migrate":
		return migrate(ctx, args[1:], getenv, out)
	case "seed":
		return seedCmd(ctx, args[1:], getenv, out)
	case "grant-role":
		return grantRole(ctx, args[1:], getenv, out)
	case "loadgen":
		return loadgenCmd(ctx, args[1:], out)
	case "reindex":
		return reindexCmd(ctx, args[1:], getenv, out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	default:
		fmt.Fprint(out, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
