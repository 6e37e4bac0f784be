package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestLogsCommandCurrentRetention: `snapglyph logs` prints an
// organisation's requests for its plan's current retention (a request of
// 20 days ago stored on Max is not printed once Max keeps 7 days), and a
// far-future --until reads up to now.
func TestLogsCommandCurrentRetention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "a@acme.test", Plan: "max"})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
		w := reqlog.New(db.DB, slog.New(slog.NewTextHandler(io.Discard, nil)))
		now := time.Now().UTC()
		for _, ago := range []time.Duration{20 * 24 * time.Hour, time.Hour} {
			e := snapglyph.RequestLogEntry{At: now.Add(-ago), RequestID: snapglyph.NewRequestID(now.Add(-ago)), OrgID: org.ID, KeyID: k.ID,
				KeyPrefix: k.Prefix, Method: "GET", Route: "/api/v1/usage", Status: 200, IP: "192.0.2.1", Plan: org.Plan}
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			args []string
			want int
		}{
			{nil, 2},
			{[]string{"--until", "9999-12-31"}, 2},
			{[]string{"--request-log-retention", "max=7d"}, 1},
			{[]string{"--request-log-retention", "max=7d", "--since", "30d", "--until", "2100-01-01"}, 1},
		} {
			out, _, err := runLogs(t, db.DSN, append([]string{"--org", org.ID, "--json"}, tt.args...)...)
			if err != nil {
				t.Fatalf("logs %v: %v", tt.args, err)
			}
			if got := strings.Count(out, `"requestId"`); got != tt.want {
				t.Errorf("logs %v printed %d requests, want %d", tt.args, got, tt.want)
			}
		}
		if _, _, err := runLogs(t, db.DSN, "--org", org.ID, "--since", "9999-01-01", "--until", "9999-12-31"); err == nil || !strings.Contains(errorText(err), "after now") {
			t.Errorf("a range after now: %v", err)
		}
	})
}
