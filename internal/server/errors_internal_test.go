package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestErrorsFollowTheTable: the API answers every kind of error with the
// status and default code of the one table (httpx), which the dashboard
// reads too, and a problem page of a default code states the same status.
func TestErrorsFollowTheTable(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), problemBase: "/problems/"}
	for _, kind := range httpx.Kinds() {
		t.Run(kind, func(t *testing.T) {
			rule := httpx.RuleOf(kind)
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest("GET", "/api/v1/qr-codes", nil), snapglyph.Errorf(kind, "what went wrong"))
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if w.Code != rule.Status || p.Status != rule.Status || p.Code != rule.Code || p.Type != "/problems/"+rule.Code {
				t.Fatalf("answered %d %+v, want %d with code %q", w.Code, p, rule.Status, rule.Code)
			}
			if doc, ok := problemDocOf(rule.Code); ok && doc.Status != rule.Status {
				t.Fatalf("the problem page of %q says %d, the table %d", rule.Code, doc.Status, rule.Status)
			}
		})
	}
}
