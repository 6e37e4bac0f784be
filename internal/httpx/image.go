package httpx

import (
	"net/http"
	"strconv"
)

// Image is a drawn image to serve (a QR code's SVG or PNG) whose entity
// tag and type are known before it is drawn.
type Image struct {
	ETag        string // strong and quoted; the same bytes have the same tag on every node
	ContentType string
	// Attachment is the Content-Disposition sent when the query asks for
	// a download (download=1 or download=true); "" for none.
	Attachment string
	// Admit, if set, is asked for a HEAD in place of draw: it refuses as
	// draw would (the API checks image credits in it) without spending,
	// so that a HEAD answers what a GET would.
	Admit func() error
}

// ServeImage answers a GET or HEAD for img in the order that spends the
// least, for the API and the dashboard alike:
//
//  1. ETag and Cache-Control: private, no-cache (the client keeps the
//     image and asks again with If-None-Match before each use; it is one
//     account's);
//  2. a matching If-None-Match (NotModified) is answered 304, without
//     drawing;
//  3. a HEAD is asked of img.Admit, if set, and answered with the
//     headers a GET would have (but Content-Length), without drawing;
//  4. draw is called, and its image written with Content-Length.
//
// draw (or Admit) may refuse (the API charges image credits in it); its
// error is returned with nothing written, the ETag removed and
// Cache-Control as it was before the call (the dashboard's no-store), for
// the caller to answer in its own way (problem JSON, an HTML page).
func ServeImage(w http.ResponseWriter, r *http.Request, img Image, draw func() ([]byte, error)) error {
	h := w.Header()
	cache := h.Values("Cache-Control") // the caller's, for an error
	h.Set("ETag", img.ETag)
	h.Set("Cache-Control", "private, no-cache")
	if NotModified(w, r, img.ETag) {
		return nil
	}
	var data []byte
	var err error
	if r.Method == http.MethodHead {
		if img.Admit != nil {
			err = img.Admit()
		}
	} else {
		data, err = draw()
	}
	if err != nil {
		h.Del("ETag")
		h.Del("Cache-Control")
		if len(cache) > 0 {
			h["Cache-Control"] = cache
		}
		return err
	}
	// The same headers for GET and HEAD: a HEAD is how a client learns
	// what a GET would bring (the type, the file name) without the image.
	h.Set("Content-Type", img.ContentType)
	if r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.Itoa(len(data)))
	}
	h.Set("X-Content-Type-Options", "nosniff")
	if v := r.URL.Query().Get("download"); img.Attachment != "" && (v == "1" || v == "true") {
		h.Set("Content-Disposition", img.Attachment)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	return nil
}
