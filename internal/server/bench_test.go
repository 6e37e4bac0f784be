package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// BenchmarkHandler measures the server's own cost per request, without the
// network: the authenticated usage endpoint (as a tool sends it, and as a
// browser-length user agent with an escaped query does, which the input
// checks and the storable user agent cost), and a repeated unknown key
// (answered from the negative cache; the throttle is off), against the
// health check.
func BenchmarkHandler(b *testing.B) {
	db := testdb.Open(b, "sqlite")
	ctx := context.Background()
	n, err := node.New(ctx, db.DB, node.Config{LogRequests: true, LeaseBlock: 1 << 20, AuthFailures: -1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	n.Start()
	defer n.Close()
	org, _, err := n.Service.CreateOrg(ctx, service.NewOrg{Name: "Bench", OwnerEmail: "b@bench.test", Plan: "max"})
	if err != nil {
		b.Fatal(err)
	}
	big := int64(1e12)
	n.Service.SetLimits(ctx, snapglyph.Operator, org.ID, &big, &big)
	k, err := n.Service.CreateKey(ctx, snapglyph.Operator, org.ID, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	unknown := snapglyph.GenerateKey()
	for _, c := range []struct {
		name, path, key, userAgent string
		status                     int
	}{
		{"healthz", "/healthz", k.Secret, "", 200},
		{"api/v1/usage", "/api/v1/usage", k.Secret, "", 200},
		{"api/v1/qr-codes-browser-query", "/api/v1/qr-codes?limit=1&type=url&createdByKey=key_%C3%A9t%C3%A9", k.Secret, browser, 200},
		{"unknown-key", "/api/v1/usage", unknown, "", 401},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", c.path, nil)
				req.Header.Set("Authorization", "Bearer "+c.key)
				if c.userAgent != "" {
					req.Header.Set("User-Agent", c.userAgent)
				}
				for pb.Next() {
					w := httptest.NewRecorder()
					n.Handler().ServeHTTP(w, req)
					if w.Code != c.status {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
