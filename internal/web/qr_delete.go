// Deleting a QR code: GET /qr-codes/{id}/delete draws its page with the
// confirmation open (no JavaScript needed), and the post deletes it.

package web

import "net/http"

// handleQRDeleteConfirm draws the code's page with the confirmation open.
func (a *app) handleQRDeleteConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := a.detailPage(w, r)
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	p.Delete = true
	a.render(w, r, http.StatusOK, "qrcodes_detail.html", p)
}

// handleQRDelete deletes the code and says so on the list.
func (a *app) handleQRDelete(w http.ResponseWriter, r *http.Request) {
	by, orgID := creator(r), sessionFrom(r.Context()).OrgID
	q, err := a.svc.QRCode(r.Context(), by, orgID, r.PathValue("id"))
	if err == nil {
		err = a.svc.DeleteQRCode(r.Context(), by, orgID, q.ID)
	}
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	redirectWith(w, r, "/qr-codes", "success", q.Name+" was deleted.")
}
