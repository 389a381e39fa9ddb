package server

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Deps are what every service module is built with, beside its own
// configuration: each service's New takes (ctx, Config, Deps), so that the
// binary's module table builds them all one way.
type Deps struct {
	Log *slog.Logger
	// Registry takes the module's metrics; nil means they are not exported.
	Registry prometheus.Registerer
	// Tracer makes the module's spans (its service.name is the module's);
	// nil means tracing is off, and nothing is wrapped to trace.
	Tracer trace.TracerProvider
}
