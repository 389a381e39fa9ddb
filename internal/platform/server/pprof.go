package server

import (
	"net/http"
	"net/http/pprof"
	runtimepprof "runtime/pprof"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/httpx"
)

// SetPprof serves the runtime profiles under /debug/pprof/ on the metrics
// listener added from now on. They are off by default and never served on
// a module's own port: a profile costs CPU while it runs and shows the
// program's insides, so only whoever may reach the operators' listener
// gets them.
func (s *Server) SetPprof(enabled bool) { s.pprof = enabled }

// pprofRoutes mounts the profiles: the index, and each profile by name.
// Importing net/http/pprof also registers them on http.DefaultServeMux,
// which nothing here serves.
func (s *Server) pprofRoutes(rt *httpx.Router) {
	rt.HandleFunc("GET /debug/pprof/{$}", pprof.Index)
	rt.HandleFunc("GET /debug/pprof/{profile}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("profile") {
		case "cmdline":
			pprof.Cmdline(w, r)
		case "profile":
			pprof.Profile(w, r)
		case "symbol":
			pprof.Symbol(w, r)
		case "trace":
			pprof.Trace(w, r)
		default: // heap, goroutine, allocs, block, mutex, threadcreate
			if runtimepprof.Lookup(r.PathValue("profile")) == nil {
				httpx.Error(w, r, s.log, errs.New(errs.NotFound, "profile_not_found", "no such profile"))
				return
			}
			pprof.Index(w, r)
		}
	})
}
