package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestWebhookAnswerControlCharacters: a receiver that answers with escape
// sequences (retitle the terminal, ring its bell, clear the screen, an
// 8-bit CSI) and CRLF or bare CR line breaks is kept in the delivery log
// with its lines and tabs, every line break a line feed, and none of the
// rest: the dashboard and whoever reads the log later see text, and a CR
// cannot write one line over another.
func TestWebhookAnswerControlCharacters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "upstream down\r\n\x1b]0;owned\x07\tretry: \x1b[2Jlater\u009b31m\rfake: ok\x7f\r\n")
		}))
		t.Cleanup(srv.Close)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("Menu")
		f.drain(f.hookDeliverer("n1", nil, true))
		as := f.attempts(w.ID)
		if len(as) != 1 || as[0].Status != http.StatusBadGateway {
			t.Fatalf("delivery log %+v, want one attempt answered 502", as)
		}
		const want = "upstream down\n]0;owned\tretry: [2Jlater31m\nfake: ok\n"
		if got := as[0].Response; got != want {
			t.Errorf("kept answer %q, want %q", got, want)
		}
	})
}
