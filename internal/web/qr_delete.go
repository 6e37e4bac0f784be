// Deleting a QR code: GET /qr-codes/{id}/delete draws its page with the
// confirmation open (no JavaScript needed), and the post deletes it.

package web

import (
	"net/http"
	"net/url"
)

// handleQRDeleteConfirm draws the code's page with the confirmation open.
// Cancel leads back to the Delete that opened it, focused: the page's,
// or with from=list the list's, on the page of the list it was on (its
// filters and cursor come along; only those, so the way back is always
// the list).
func (a *app) handleQRDeleteConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := a.detailPage(w, r)
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	p.Delete = true
	p.Back = "/qr-codes/" + url.PathEscape(p.Code.ID) + "#delete-code"
	if q := r.URL.Query(); q.Get("from") == "list" {
		list := url.Values{}
		for _, k := range []string{"type", "createdByKey", "cursor"} {
			if v := q.Get(k); v != "" {
				list.Set(k, v)
			}
		}
		p.Back = "/qr-codes"
		if len(list) > 0 {
			p.Back += "?" + list.Encode()
		}
		p.Back += "#delete-" + p.Code.ID
	}
	p.Title = "Delete " + p.Code.Name + "?"
	a.render(w, r, http.StatusOK, "qrcodes_detail.html", p)
}

// handleQRDelete deletes the code and says so on the list.
func (a *app) handleQRDelete(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
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
