package web

import (
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestStatusesFollowTheTable: the dashboard answers every kind of error
// with the status of the one table the API reads (httpx), except invalid
// input, which is a form's errors drawn again for a person to correct
// (422, where the API says 400). Every such status has a heading, and the
// error page is drawn with it.
func TestStatusesFollowTheTable(t *testing.T) {
	a := &app{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := a.parse(); err != nil {
		t.Fatal(err)
	}
	for _, kind := range httpx.Kinds() {
		t.Run(kind, func(t *testing.T) {
			want := httpx.RuleOf(kind).Status
			if kind == snapglyph.EINVALID {
				want = http.StatusUnprocessableEntity
			}
			err := snapglyph.Errorf(kind, "what went wrong")
			if got := statusOf(err); got != want {
				t.Fatalf("statusOf = %d, want %d", got, want)
			}
			if headings[want] == "" {
				t.Fatalf("no heading for %d", want)
			}
			w := httptest.NewRecorder()
			a.fail(w, httptest.NewRequest("GET", "/qr-codes", nil), err)
			if w.Code != want || !strings.Contains(w.Body.String(), template.HTMLEscapeString(headings[want])) {
				t.Fatalf("error page %d without the heading %q", w.Code, headings[want])
			}
			if want == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
				t.Fatal("a 503 without Retry-After")
			}
		})
	}
}
