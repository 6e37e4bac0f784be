// A saved code's image for the pages and downloads:
// GET /qr-codes/{id}/image.svg and /qr-codes/{id}/image.png?size=…
// (&download=1 for a file named after the code). Session-authenticated
// and never metered; otherwise served as the API serves images
// (httpx.ServeImage): the same renders and caches, the same ETag and the
// same conditional-request rule.

package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// handleQRImage serves a saved code's image in the format.
func (a *app) handleQRImage(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		size := qr.DefaultSize
		if v := r.URL.Query().Get("size"); v != "" && format == "png" {
			n, err := strconv.Atoi(v)
			if err != nil || n < qr.MinSize || n > qr.MaxSize {
				a.renderError(w, r, http.StatusBadRequest, "Please check the size",
					fmt.Sprintf("A PNG can be from %d to %d pixels.", qr.MinSize, qr.MaxSize))
				return
			}
			size = n
		}
		// Without the logo: it is read only if the image must be drawn.
		q, err := a.svc.QRCodeWithoutLogo(r.Context(), creator(r), sessionFrom(r.Context()).OrgID, r.PathValue("id"))
		if err != nil {
			a.qrFail(w, r, err)
			return
		}
		etag, err := a.svc.ImageTag(q, format, size)
		if snapglyph.ErrorCode(err) == "logo_requires_png" {
			a.renderError(w, r, http.StatusUnprocessableEntity, "No SVG for a code with a logo",
				"Logos are drawn in PNG images only. Download "+q.Name+" as PNG instead.")
			return
		} else if err != nil {
			a.fail(w, r, err)
			return
		}
		img := httpx.Image{ETag: etag, ContentType: service.ImageContentType(format), Attachment: service.Attachment(q.Name, format)}
		err = httpx.ServeImage(w, r, img, func() ([]byte, error) {
			img, err := a.svc.RenderQRCode(r.Context(), q, format, size)
			if err != nil {
				return nil, err
			}
			return img.Data, nil
		})
		if errors.Is(err, service.ErrRenderBusy) {
			a.renderBusy(w, r)
		} else if err != nil {
			a.fail(w, r, err)
		}
	}
}

// renderBusy answers an image the node has no render slot for: the
// dashboard shares the API's bound on renders in flight.
func (a *app) renderBusy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	a.renderError(w, r, http.StatusServiceUnavailable, "Too many images at once",
		"This server is drawing as many images as it can. Please try again in a moment.")
}
