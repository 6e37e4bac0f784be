package httpx

import (
	"cmp"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
)

// TestServeImage: the order of work (304 and HEAD draw nothing, and a
// HEAD asks Admit instead), the headers of each answer, a download, and a
// refused draw or HEAD that leaves the response to the caller.
func TestServeImage(t *testing.T) {
	img := Image{ETag: tag, ContentType: "image/svg+xml", Attachment: `attachment; filename="menu.svg"`}
	body := []byte("<svg/>")
	refused := errors.New("no credits")
	for _, c := range []struct {
		name, method, target, inm string
		drawErr, admitErr         error
		wantStatus                int
		wantDraw, wantAdmit       bool
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
		{name: "Head", method: "HEAD", target: "/i", wantStatus: 200, wantAdmit: true, wantETag: true},
		{name: "HeadDownload", method: "HEAD", target: "/i?download=1", wantStatus: 200, wantAdmit: true, wantETag: true, wantAttachment: true},
		{name: "HeadNotModified", method: "HEAD", target: "/i", inm: tag, wantStatus: 304, wantETag: true},
		{name: "ErrRefused", method: "GET", target: "/i?download=1", drawErr: refused, wantDraw: true},
		{name: "HeadRefused", method: "HEAD", target: "/i?download=1", admitErr: refused, wantAdmit: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, nil)
			if c.inm != "" {
				r.Header.Set("If-None-Match", c.inm)
			}
			w := httptest.NewRecorder()
			w.Header().Set("Cache-Control", "no-store") // the dashboard's, for every page
			drawn, admitted := false, false
			img := img
			img.Admit = func() error {
				admitted = true
				return c.admitErr
			}
			err := ServeImage(w, r, img, func() ([]byte, error) {
				drawn = true
				if c.drawErr != nil {
					return nil, c.drawErr
				}
				return body, nil
			})
			if drawn != c.wantDraw || admitted != c.wantAdmit {
				t.Errorf("drawn %v, admitted %v; want %v, %v", drawn, admitted, c.wantDraw, c.wantAdmit)
			}
			h := w.Header()
			if refusal := cmp.Or(c.drawErr, c.admitErr); refusal != nil {
				if err != refusal || w.Body.Len() != 0 || len(h) != 1 || h.Get("Cache-Control") != "no-store" {
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

// TestServeImageHeadAsGet: a HEAD answers the status and headers of the
// GET, but the image's length, which only drawing tells; without Admit
// (the dashboard) it is answered all the same.
func TestServeImageHeadAsGet(t *testing.T) {
	for _, target := range []string{"/i", "/i?download=1"} {
		for _, admit := range []func() error{nil, func() error { return nil }} {
			img := Image{ETag: tag, ContentType: "image/png", Attachment: `attachment; filename="menu.png"`, Admit: admit}
			answer := func(method string) http.Header {
				w := httptest.NewRecorder()
				w.Header().Set("X-Request-Id", "r1") // set by the caller before
				if err := ServeImage(w, httptest.NewRequest(method, target, nil), img, func() ([]byte, error) { return []byte("png"), nil }); err != nil || w.Code != 200 {
					t.Fatalf("%s %s: %d %v", method, target, w.Code, err)
				}
				return w.Header()
			}
			get, head := answer("GET"), answer("HEAD")
			get.Del("Content-Length")
			if !maps.EqualFunc(get, head, func(a, b []string) bool { return slices.Equal(a, b) }) {
				t.Errorf("%s (Admit %v): HEAD headers %v, GET's %v", target, admit != nil, head, get)
			}
		}
	}
}
