// The create and edit form's live preview: POST /qr-codes/preview from
// app.js (GET with the same fields in the query works too). The form is
// read as on submit and the service checks and draws it as it would be
// saved (service.PreviewQRCode), storing nothing: SVG, or PNG when there
// is a logo, and 422 text/plain with one problem per line, worded as on
// the form.

package web

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// handleQRPreview draws the form's code. On the edit page the form
// carries the code's id: the preview is then of the code as the form
// would change it (its saved logo is kept unless the form replaces or
// removes it).
func (a *app) handleQRPreview(w http.ResponseWriter, r *http.Request) {
	f, err := readQRForm(w, r, withID)
	if err != nil {
		status, msg := http.StatusBadRequest, formProblem(err)
		if errors.Is(err, errFormTooLarge) || errors.As(err, new(*http.MaxBytesError)) {
			status = http.StatusRequestEntityTooLarge
		} else if snapglyph.ErrorKind(err) == snapglyph.EINVALID {
			status, msg = http.StatusUnprocessableEntity, sentence(snapglyph.ErrorMessage(err))
		}
		previewText(w, status, msg)
		return
	}
	img, err := a.svc.PreviewQRCode(r.Context(), creator(r), sessionFrom(r.Context()).OrgID, f.Values.Get("id"), f.input())
	switch kind := snapglyph.ErrorKind(err); {
	case err == nil:
		w.Header().Set("Content-Type", img.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(img.Data)))
		w.Write(img.Data)
	case errors.Is(err, service.ErrRenderBusy):
		w.Header().Set("Retry-After", "1")
		previewText(w, http.StatusServiceUnavailable, "The preview is busy; it will come back in a moment.")
	case kind == snapglyph.ENOTFOUND:
		previewText(w, http.StatusNotFound, "This QR code does not exist any more.")
	case kind == snapglyph.EINVALID || kind == snapglyph.EUNPROCESSABL:
		_, all := formErrors(err, f)
		lines := make([]string, 0, len(all))
		for _, p := range all {
			lines = append(lines, p.Text)
		}
		if len(lines) == 0 {
			lines = append(lines, sentence(snapglyph.ErrorMessage(err)))
		}
		previewText(w, http.StatusUnprocessableEntity, strings.Join(lines, "\n"))
	default:
		a.log.Error("dashboard: preview", "err", err)
		previewText(w, statusOf(err), "The preview is not available right now.")
	}
}

func previewText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, text)
}
