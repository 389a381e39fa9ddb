// Command gen writes the dashboards of package grafana as JSON files into
// the current directory (deploy/grafana, under go generate).
package main

import (
	"fmt"
	"os"

	"github.com/marketplace-go/marketplace/deploy/grafana"
)

func main() {
	for _, d := range grafana.All() {
		b, err := d.JSON()
		if err == nil {
			err = os.WriteFile(d.File(), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
