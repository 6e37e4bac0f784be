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

// BenchmarkInputPath: an authenticated request as a real client sends it
// (a browser-length user agent; a list with a query), to measure what
// checking input and making the user agent storable cost.
func BenchmarkInputPath(b *testing.B) {
	db := testdb.Open(b, "sqlite")
	ctx := context.Background()
	n, err := node.New(ctx, db.DB, node.Config{LogRequests: true, LeaseBlock: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	n.Start()
	defer n.Close()
	org, _, err := n.Service.CreateOrg(ctx, service.NewOrg{Name: "Bench", OwnerEmail: "b@bench.test", Plan: "max"})
	if err != nil {
		b.Fatal(err)
	}
	big := int64(1 << 40)
	n.Service.SetLimits(ctx, snapglyph.Operator, org.ID, &big, &big)
	k, err := n.Service.CreateKey(ctx, snapglyph.Operator, org.ID, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/v1/usage", "/api/v1/usage?x=%C3%A9t%C3%A9"} {
		b.Run(path[1:], func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("Authorization", "Bearer "+k.Secret)
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
				for pb.Next() {
					w := httptest.NewRecorder()
					n.Handler().ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
