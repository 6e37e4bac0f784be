package web

import (
	"io"
	"log/slog"
)

// RoutePatterns returns every pattern the dashboard serves, as registered
// on its mux, so tests can cover each route (and a new one) automatically.
func RoutePatterns(d Deps) ([]string, error) {
	a := &app{svc: d.Service, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: d.Now}
	if err := a.parse(); err != nil {
		return nil, err
	}
	return a.routes().(*inputMux).patterns, nil
}
