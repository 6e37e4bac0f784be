package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// hiddenIDs are ids holding a character that reorders or hides text: a
// right-to-left override, a zero-width space, a left-to-right isolate,
// a control character.
var hiddenIDs = []string{"qr_%E2%80%AE", "qr_ab%E2%80%8Bcd", "%E2%81%A6qr_abc", "qr_%01"}

// TestBidiIDsRefused: an id in the path holding a control or format
// character is refused 400 naming the id, as one holding a NUL is, on
// every route that takes an id, and is not kept in the request log.
func TestBidiIDsRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		var logged []string
		for _, id := range hiddenIDs {
			for _, method := range []string{"GET", "PATCH", "DELETE"} {
				body := ""
				if method == "PATCH" {
					body = `{"name":"x"}`
				}
				resp, s := h.call(method, "/api/v1/qr-codes/"+id, h.key, "192.0.2.1", "acme-sdk/1.0", body)
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var p server.Problem
				if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(raw, &p) != nil || p.Code != "invalid_request" ||
					len(p.Errors) != 1 || p.Errors[0].Field != "id" {
					t.Errorf("%s %s: %d %s, want 400 invalid_request naming id", method, id, resp.StatusCode, raw)
				}
				if bytes.ContainsAny(raw, "\u202e\u200b\u2066\x01") {
					t.Errorf("%s %s: the problem repeats the character: %s", method, id, raw)
				}
				logged = append(logged, s.id)
			}
		}
		for _, e := range logOf(t, h.cli, h.org.ID, len(logged)) {
			if strings.ContainsAny(e.ResourceID, "\u202e\u200b\u2066") || e.Status != 400 || e.Calls != 1 {
				t.Errorf("logged %s %q %d, calls %d", e.Method, e.ResourceID, e.Status, e.Calls)
			}
		}
	})
}

// TestBidiUserAgentEscaped: a user agent holding format characters (a
// right-to-left override, a zero-width space, an isolate) is kept with
// them as escapes, so it is read as the client sent it and none acts on
// the text around it: in the request log as the CLI and the dashboard
// read it, in its CSV export, and as the key's last use.
func TestBidiUserAgentEscaped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		ctx := context.Background()
		const ua = "bidi\u202eevil\u200b/1.0 \u2066x\u2069"
		const want = `bidi\u202eevil\u200b/1.0 \u2066x\u2069`
		resp, s := h.call("GET", "/api/v1/usage", h.key, "192.0.2.1", ua, "")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		entries := logOf(t, h.cli, h.org.ID, 1)
		if e := entries[0]; e.RequestID != s.id || e.UserAgent != want {
			t.Errorf("logged user agent %q, want %q", e.UserAgent, want)
		}
		e, err := h.cli.RequestLogEntry(ctx, snapglyph.Operator, h.org.ID, s.id)
		if err != nil {
			t.Fatal(err)
		}
		if e.UserAgent != want {
			t.Errorf("the entry's user agent %q, want %q", e.UserAgent, want)
		}
		var out bytes.Buffer
		cw := csv.NewWriter(&out)
		cw.Write(service.LogCSVHeader)
		if err := h.cli.ExportRequestLog(ctx, snapglyph.Operator, h.org.ID, service.LogQuery{}, func(e *snapglyph.RequestLogEntry) error {
			return cw.Write(service.LogCSVRecord(e))
		}); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil || len(rows) != 2 {
			t.Fatalf("CSV %q: %v", out.String(), err)
		}
		if got := rows[1][10]; got != want {
			t.Errorf("CSV user agent %q, want %q", got, want)
		}
		h.node.Recorder.Flush(ctx)
		k, err := h.db.Key(ctx, h.kid)
		if err != nil {
			t.Fatal(err)
		}
		if k.LastUsedUA != want {
			t.Errorf("the key's last user agent %q, want %q", k.LastUsedUA, want)
		}
	})
}
