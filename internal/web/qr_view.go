// The QR Codes pages, one file per page action: qr_list.go (the list),
// qr_edit.go (create and edit), qr_detail.go, qr_delete.go, qr_image.go
// (images and downloads) and qr_preview.go (the form's live preview);
// qr_fields.go names the fields of each type and qr_form.go reads the form
// into the service's input.
//
// Every read and change goes through the service, as the signed-in user
// (snapglyph.Creator of type user, named by email as in the audit log), so
// the API and the dashboard apply the same rules: the same validation
// (service.QRInput, built from the form as the API builds it from JSON),
// the same images (service.RenderQRCode and its caches) and the same
// conditional requests (httpx.ServeImage). Nothing here touches the meter:
// pages, previews, images and downloads count no API call and no image
// credit (those meter the API only).

package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// creator is the signed-in user as the creator of QR codes.
func creator(r *http.Request) snapglyph.Creator {
	s := sessionFrom(r.Context())
	return snapglyph.Creator{Type: snapglyph.CreatorUser, ID: s.UserID, Name: s.Email}
}

// byteSize writes a file size as people do: 900 bytes, 12 KB, 1.2 MB.
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return snapglyph.Plural(int64(n), "byte")
	case n < 1000*1000:
		return fmt.Sprintf("%d KB", (n+500)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// qrView is a QR code as the pages show it.
type qrView struct{ *snapglyph.QRCode }

func (q qrView) TypeLabel() string { return typeLabel(q.Type) }
func (q qrView) HasLogo() bool     { return q.LogoType != "" }
func (q qrView) ByKey() bool       { return q.CreatedBy.Type == snapglyph.CreatorAPIKey }

// Level names the error-correction level.
func (q qrView) Level() string {
	for _, l := range levels {
		if l.Value == q.Design.ErrorCorrection {
			pct, _, _ := strings.Cut(strings.TrimPrefix(l.Label, l.Value+" · "), ",")
			return l.Value + " (" + pct + " of the code can be damaged)"
		}
	}
	return q.Design.ErrorCorrection
}

// Summary says in one line what the code holds, for the list: the URL,
// the text's first line, the address or number, the network, the person.
func (q qrView) Summary() string {
	var c map[string]any
	json.Unmarshal(q.Content, &c)
	str := func(k string) string { s, _ := c[k].(string); return s }
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, " · ")
	}
	firstLine := func(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
	switch q.Type {
	case "url":
		return str("url")
	case "text":
		return firstLine(str("text"))
	case "email":
		return join(str("to"), str("subject"))
	case "phone":
		return str("number")
	case "sms":
		return join(str("number"), firstLine(str("message")))
	case "wifi":
		if str("security") == "none" {
			return "Network " + str("ssid") + " (open)"
		}
		return "Network " + str("ssid")
	case "vcard":
		return join(str("firstName")+" "+str("lastName"), str("organization"))
	}
	return q.Payload
}

// KeyPrefix is the creating key's prefix as the API Settings page writes it.
func (q qrView) KeyPrefix() string { return q.CreatedBy.Prefix + "..." }

// Image is the URL of the code's image at about px pixels: SVG, or PNG
// for a code with a logo.
func (q qrView) Image(px int) string {
	if q.HasLogo() {
		return "/qr-codes/" + q.ID + "/image.png?size=" + strconv.Itoa(px)
	}
	return "/qr-codes/" + q.ID + "/image.svg"
}

// LogoSize describes the logo.
func (q qrView) LogoSize() string {
	kind := strings.ToUpper(strings.TrimPrefix(q.LogoType, "image/"))
	if len(q.Logo) == 0 {
		return kind
	}
	return kind + ", " + byteSize(int64(len(q.Logo)))
}

type keyOption struct {
	ID, Label string
	Selected  bool
}

func planName(p snapglyph.Plan) string {
	s := string(p)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// qrFail draws the error page for a QR-code action; a code that is not
// in the organisation is "not found", whoever's it is.
func (a *app) qrFail(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		a.renderError(w, r, http.StatusNotFound, "QR code not found",
			"There is no such QR code in this organisation; it may have been deleted.")
		return
	}
	a.fail(w, r, err)
}
