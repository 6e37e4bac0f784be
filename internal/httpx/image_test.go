package httpx

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestServeImage: the order of work (304 and HEAD draw nothing), the
// headers of each answer, a download, and a refused draw that leaves the
// response to the caller.
func TestServeImage(t *testing.T) {
	img := Image{ETag: tag, ContentType: "image/svg+xml", Attachment: `attachment; filename="menu.svg"`}
	body := []byte("<svg/>")
	refused := errors.New("no credits")
	for _, c := range []struct {
		name, method, target, inm string
		drawErr                   error
		wantStatus                int
		wantDraw                  bool
		wantBody                  string
		wantETag, wantAttachment  bool
	}{
		{name: "OK", method: "GET", target: "/i", wantStatus: 200, wantDraw: true, wantBody: "<svg/>", wantETag: true},
		{name: "Download", method: "GET", target: "/i?download=1", wantStatus: 200, wantDraw: true, wantBody: "<svg/>", wantETag: true, wantAttachment: true},
		{name: "DownloadTrue", method: "GET", target: "/i?download=true", wantStatus: 200, wantDraw: true, wantBody: "<svg/>", wantETag: true, wantAttachment: true},
		{name: "DownloadNo", method: "GET", target: "/i?download=0", wantStatus: 200, wantDraw: true, wantBody: "<svg/>", wantETag: true},
		{name: "NotModified", method: "GET", target: "/i?download=1", inm: `"x", W/` + tag, wantStatus: 304, wantETag: true},
		{name: "NotModifiedStar", method: "GET", target: "/i", inm: "*", wantStatus: 304, wantETag: true},
		{name: "Modified", method: "GET", target: "/i", inm: `"x"`, wantStatus: 200, wantDraw: true, wantBody: "<svg/>", wantETag: true},
		{name: "Head", method: "HEAD", target: "/i", wantStatus: 200, wantETag: true},
		{name: "HeadNotModified", method: "HEAD", target: "/i", inm: tag, wantStatus: 304, wantETag: true},
		{name: "ErrRefused", method: "GET", target: "/i?download=1", drawErr: refused, wantDraw: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, nil)
			if c.inm != "" {
				r.Header.Set("If-None-Match", c.inm)
			}
			w := httptest.NewRecorder()
			w.Header().Set("Cache-Control", "no-store") // the dashboard's, for every page
			drawn := false
			err := ServeImage(w, r, img, func() ([]byte, error) {
				drawn = true
				if c.drawErr != nil {
					return nil, c.drawErr
				}
				return body, nil
			})
			if drawn != c.wantDraw {
				t.Errorf("drawn %v, want %v", drawn, c.wantDraw)
			}
			h := w.Header()
			if c.drawErr != nil {
				if err != c.drawErr || w.Body.Len() != 0 || len(h) != 1 || h.Get("Cache-Control") != "no-store" {
					t.Errorf("refused draw: err %v, %d bytes written, headers %v; want the error, nothing written, Cache-Control as it was", err, w.Body.Len(), h)
				}
				return
			}
			if err != nil || w.Code != c.wantStatus || w.Body.String() != c.wantBody {
				t.Fatalf("err %v, status %d, body %q; want %d %q", err, w.Code, w.Body.String(), c.wantStatus, c.wantBody)
			}
			if (h.Get("ETag") == tag) != c.wantETag || h.Get("Cache-Control") != "private, no-cache" {
				t.Errorf("ETag %q, Cache-Control %q", h.Get("ETag"), h.Get("Cache-Control"))
			}
			if (h.Get("Content-Disposition") == img.Attachment) != c.wantAttachment {
				t.Errorf("Content-Disposition %q", h.Get("Content-Disposition"))
			}
			if c.wantStatus == 200 && (h.Get("Content-Type") != img.ContentType || h.Get("X-Content-Type-Options") != "nosniff") {
				t.Errorf("Content-Type %q, X-Content-Type-Options %q", h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
			}
			if cl := h.Get("Content-Length"); c.wantDraw && cl != strconv.Itoa(len(body)) || !c.wantDraw && cl != "" {
				t.Errorf("Content-Length %q", cl)
			}
		})
	}
}
