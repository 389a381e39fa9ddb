//go:build noloadgen

package main

import (
	"context"
	"errors"
	"io"
)

// loadgenCmd is left out of release images (built with -tags noloadgen):
// the load generator and its plots (gonum, fonts) would add a sixth to the
// image, and a deployment sends no load to itself. `make build` keeps it.
func loadgenCmd(context.Context, []string, io.Writer) error {
	return errors.New("this build has no load generator (built with -tags noloadgen); use a binary from `make build`")
}
