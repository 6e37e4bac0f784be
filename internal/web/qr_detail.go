// A QR code's page: its content, design, image and downloads.

package web

import "net/http"

// pngSizes are the PNG download sizes offered, in pixels.
var pngSizes = []int{256, 512, 1024, 2048}

type qrDetailPage struct {
	base
	Code   qrView
	Sizes  []int
	Delete bool // the delete confirmation is open
	// Back is where the confirmation's Cancel (and Escape) lead: the
	// control that opened it, on the code's page or the list's.
	Back string
}

// detailPage builds the page of the code in the path.
func (a *app) detailPage(w http.ResponseWriter, r *http.Request) (*qrDetailPage, error) {
	q, err := a.svc.QRCode(r.Context(), creator(r), sessionFrom(r.Context()).OrgID, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	b, err := a.newBase(w, r, q.Name, "qr")
	if err != nil {
		return nil, err
	}
	return &qrDetailPage{base: b, Code: qrView{q}, Sizes: pngSizes}, nil
}

// handleQRCode draws the page of a QR code of the organisation.
func (a *app) handleQRCode(w http.ResponseWriter, r *http.Request) {
	p, err := a.detailPage(w, r)
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "qrcodes_detail.html", p)
}
