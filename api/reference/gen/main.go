// Command gen writes the API reference page rendered from api/openapi.yaml
// to the file named by its argument (api/reference.html: `make docs`, or
// `go generate ./api`).
package main

import (
	"fmt"
	"os"

	"github.com/marketplace-go/marketplace/api"
	"github.com/marketplace-go/marketplace/api/reference"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run renders the page into the one file args names.
func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: gen OUTPUT.html")
	}
	page, err := reference.Render(api.OpenAPI())
	if err != nil {
		return err
	}
	if err := os.WriteFile(args[0], page, 0o644); err != nil {
		return fmt.Errorf("write the reference page: %w", err)
	}
	return nil
}
