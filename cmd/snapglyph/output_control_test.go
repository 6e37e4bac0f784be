package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// rawControl returns the first control character (C0 other than the line
// feeds that end lines, DEL, C1) or format character in out, which a
// terminal would act on or hide text with, and -1 when there is none.
func rawControl(out string) rune {
	for _, r := range out {
		if r != '\n' && snapglyph.Hidden(r) {
			return r
		}
	}
	return -1
}

// checkPrinted fails the test when a command's output holds a raw control
// or format character.
func checkPrinted(t *testing.T, what, out string) {
	t.Helper()
	if r := rawControl(out); r >= 0 {
		t.Errorf("%s writes U+%04X raw to the terminal:\n%q", what, r, out)
	}
}

// TestHostileRequestReachesTheOperatorAsText sends the real API requests
// an attacker would, to serve: a path id with an escape sequence that
// retitles the terminal and rings its bell, one with a line break that
// starts a forged log line, and a user agent with an 8-bit CSI. They are
// refused 400, recorded with the control characters as escapes (the path
// ids and the user agent: StorableShown), and `snapglyph
// logs` and `key show` print none of them, as text or JSON; key show
// names the key's creator by email, not by user id.
func TestHostileRequestReachesTheOperatorAsText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		k, err := svc.CreateKey(ctx, snapglyph.Actor{UserID: owner.ID, Label: owner.Email, IP: "192.0.2.9"}, org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		srv := serveDB(t, db.DSN, "--flush-interval", "200ms", "--request-log-interval", "200ms")
		const ua = "acme-sdk/1.0 \u009b2J\u009b31m"
		for _, path := range []string{"qr_%1b%5d0;owned%07", "qr_%0a2026-11-15T12:00:00.000Z%20forged"} {
			req, err := http.NewRequest("GET", srv.url+"/api/v1/qr-codes/"+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+k.Secret)
			req.Header.Set("User-Agent", ua)
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("GET /api/v1/qr-codes/%s: %d, want 400", path, resp.StatusCode)
			}
		}
		srv.stop(t) // the request log and last use are written on the way out

		out, _ := cli(t, db.DSN, 0, "logs", "--org", org.ID, "--json")
		checkPrinted(t, "logs --json", out)
		ids := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e struct{ ResourceID, UserAgent string }
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			ids[e.ResourceID] = true
			if e.UserAgent != `acme-sdk/1.0 \u009b2J\u009b31m` {
				t.Errorf("user agent recorded as %q", e.UserAgent)
			}
		}
		// The path ids show their control characters as escapes (plain
		// text: the terminal acts on none), not dropped (StorableShown).
		if len(ids) != 2 || !ids[`qr_\u001b]0;owned\u0007`] || !ids[`qr_\u000a2026-11-15T12:00:00.000Z forged`] {
			t.Errorf("resource ids recorded as %v", ids)
		}
		out, _ = cli(t, db.DSN, 0, "logs", "--org", org.ID)
		checkPrinted(t, "logs", out)
		if n := strings.Count(out, "\n"); n != 3 {
			t.Errorf("logs printed %d lines, want a heading and 2 rows:\n%s", n, out)
		}

		out, _ = cli(t, db.DSN, 0, "key", "show", k.ID)
		checkPrinted(t, "key show", out)
		if !strings.Contains(out, "by owner@acme.test") || strings.Contains(out, owner.ID) {
			t.Errorf("key show does not name the creator by email:\n%s", out)
		}
		if !strings.Contains(out, `(acme-sdk/1.0 \u009b2J\u009b31m)`) {
			t.Errorf("key show's last use:\n%s", out)
		}
		out, _ = cli(t, db.DSN, 0, "key", "show", k.ID, "--json")
		checkPrinted(t, "key show --json", out)
		if got := decode(t, out); got["createdByLabel"] != "owner@acme.test" || got["createdBy"] != "user:"+owner.ID {
			t.Errorf("key show --json: createdBy %v, createdByLabel %v", got["createdBy"], got["createdByLabel"])
		}
	})
}

// TestStoredControlsPrintedEscaped: rows written before recorded text was
// cleaned may hold escape sequences, line breaks, DEL and C1 controls.
// Every command that shows them writes them escaped (\x1b, \n, \u009b):
// the text the operator reads is the text stored, and the terminal acts
// on none of it; JSON lines carry the same strings, escaped.
func TestStoredControlsPrintedEscaped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "max"})
		if err != nil {
			t.Fatal(err)
		}
		k, err := svc.CreateKey(ctx, snapglyph.Actor{UserID: owner.ID, Label: owner.Email}, org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		w := reqlog.New(db.DB, slog.New(slog.NewTextHandler(io.Discard, nil)))
		w.Record(&snapglyph.RequestLogEntry{At: time.Now().UTC(), RequestID: "0000000000000001", OrgID: org.ID, KeyID: k.ID, KeyPrefix: k.Prefix,
			Method: "GET", Route: "/api/v1/qr-codes/{id}", ResourceID: "qr_1", Status: 400, Code: "invalid_request", IP: "192.0.2.1",
			UserAgent: "acme-sdk/1.0", Plan: org.Plan})
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wh := &snapglyph.Webhook{ID: snapglyph.NewID("wh"), OrgID: org.ID, URL: "https://example.com/hook", Events: []string{"qr.created"}, Secret: "whsec_test"}
		if err := db.CreateWebhook(ctx, wh, snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}

		// As an older version stored them: raw.
		const esc = "\x1b]0;owned\x07\x1b[2J"
		exec := func(query string, args ...any) {
			t.Helper()
			if db.Dialect == "postgres" {
				for i := range args {
					query = strings.Replace(query, "?", fmt.Sprintf("$%d", i+1), 1)
				}
			}
			if _, err := db.SQL().ExecContext(ctx, query, args...); err != nil {
				t.Fatal(err)
			}
		}
		exec(`UPDATE request_log SET ip = ?, user_agent = ?, resource_id = ?, code = ? WHERE org_id = ?`,
			"192.0.2.1"+esc, "sdk\u009b31m\x7f", "qr_\n2026-11-15T12:00:00.000Z forged", "invalid_request\r\x1b[1A", org.ID)
		exec(`UPDATE api_keys SET name = ?, status = ?, paused_by = ?, paused_reason = ?, last_used_at = ?, last_used_ip = ?, last_used_ua = ? WHERE id = ?`,
			"Prod\x1b[8m", string(snapglyph.KeyPaused), "owner@acme.test", "leaked\nfake row", time.Now().UnixMilli(), "192.0.2.1"+esc, "curl\u009b2J\t\u202eevil", k.ID)
		exec(`UPDATE orgs SET name = ? WHERE id = ?`, "Acme"+esc, org.ID)
		exec(`UPDATE webhooks SET url = ? WHERE id = ?`, "https://example.com/hook\x1b[2J", wh.ID)

		for _, c := range []struct {
			args []string
			want []string // escapes the output shows
		}{
			{[]string{"logs", "--org", org.ID}, []string{`192.0.2.1\x1b]0;owned\a\x1b[2J`, `invalid_request\r\x1b[1A`}},
			{[]string{"key", "show", k.ID}, []string{`Prod\x1b[8m`, `leaked\nfake row`, `192.0.2.1\x1b]0;owned\a\x1b[2J`, `(curl\u009b2J\t\u202eevil)`, "by owner@acme.test"}},
			{[]string{"key", "list", "--org", org.ID}, []string{`Prod\x1b[8m`, `leaked\nfake row`, `192.0.2.1\x1b]0;owned\a\x1b[2J`}},
			{[]string{"key", "resume", k.ID}, []string{`Prod\x1b[8m`}},
			{[]string{"org", "list"}, []string{`Acme\x1b]0;owned\a\x1b[2J`}},
			{[]string{"org", "show", org.ID}, []string{`Acme\x1b]0;owned\a\x1b[2J`}},
			{[]string{"webhook", "list", "--org", org.ID}, []string{`https://example.com/hook\x1b[2J`}},
			{[]string{"logs", "--org", org.ID, "--json"}, []string{`"userAgent":"sdk\u009b31m\u007f"`, `"resourceId":"qr_\n2026`}},
			{[]string{"key", "list", "--org", org.ID, "--json"}, []string{`"lastUsedUserAgent":"curl\u009b2J\t\u202eevil"`}},
		} {
			out, _ := cli(t, db.DSN, 0, c.args...)
			checkPrinted(t, "snapglyph "+strings.Join(c.args, " "), out)
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("snapglyph %s: no %s in\n%s", strings.Join(c.args, " "), want, out)
				}
			}
		}
		// The JSON lines decode to the strings stored.
		out, _ := cli(t, db.DSN, 0, "key", "show", k.ID, "--json")
		if got := decode(t, out); got["lastUsedUserAgent"] != "curl\u009b2J\t\u202eevil" || got["name"] != "Prod\x1b[8m" {
			t.Errorf("key show --json decodes to %q, %q", got["lastUsedUserAgent"], got["name"])
		}
	})
}
