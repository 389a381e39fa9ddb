package server

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what every service module is built with, beside its own
// configuration: each service's New takes (ctx, Config, Deps), so that the
// binary's module table builds them all one way.
type Deps struct {
	Log *slog.Logger
	// Registry takes the module's metrics; nil means they are not exported.
	Registry prometheus.Registerer
}
