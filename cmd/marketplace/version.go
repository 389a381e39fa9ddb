package main

import (
	"fmt"
	"io"
	"runtime"
)

// version and commit name the build. Release builds set them with
// -ldflags "-X main.version=... -X main.commit=..." (make build, the
// Dockerfiles); a plain `go build` leaves the defaults.
var (
	version = "dev"
	commit  = "unknown"
)

// printVersion writes the build's version, commit and Go version on one
// line: what an operator pastes into a bug report.
func printVersion(out io.Writer) error {
	_, err := fmt.Fprintf(out, "marketplace %s (commit %s, %s)\n", version, commit, runtime.Version())
	return err
}
