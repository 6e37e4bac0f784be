package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestQREndedTrialLimit: once the 14-day trial has ended, the
// organisation follows Starter's rule of 5 QR codes, on the page and in
// the create form (as it already does for seats and the API).
func TestQREndedTrialLimit(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	org, email := e.org(snapglyph.PlanTrial)
	e.advance(snapglyph.TrialLength + time.Hour)
	b := e.browser()
	b.signIn(email)
	for i := range 5 {
		b.createQR(qrForm(fmt.Sprintf("Code %d", i), "url", "url.url", "https://example.com"), nil)
	}
	expectContains(t, b.get("/qr-codes"), "<strong>5</strong> of 5 QR codes used")
	p := b.postMultipart("/qr-codes/new", qrForm("Sixth", "url", "url.url", "https://example.com/6"), nil)
	expectStatus(t, p, http.StatusForbidden)
	expectContains(t, p, "Your Starter plan holds 5 QR codes and all are used", `value="Sixth"`)
	if n, _ := e.db.CountQRCodes(context.Background(), org.ID); n != 5 {
		t.Errorf("%d QR codes after the trial ended, want 5", n)
	}
}
