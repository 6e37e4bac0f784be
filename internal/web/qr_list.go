// The list of QR codes, filtered by type and by the creating API key.
//
// The key filter lists the organisation's keys, revoked ones too, to
// Owners and Admins (service.Keys). Members may not list keys; they filter
// by a key with the link in the "Created by" column, and the page names
// the key from the codes it lists.

package web

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// qrPageSize is how many QR codes the list shows per page.
const qrPageSize = 20

type qrListPage struct {
	base
	Codes     []qrView
	Types     []keyOption // the type filter's options
	Keys      []keyOption // the key filter's options; nil: no key filter shown
	KeyFilter string      // the id of the key filtered by
	KeyLabel  string      // the key filtered by, named, when Keys is nil
	Filtered  bool
	Next      string // the next page's URL
	First     string // the first page's URL, when this is a later one
	Used      int    // QR codes, on a plan that limits them
	Limit     int    // the plan's QR codes; -1: no limit
	CanPlan   bool   // the user may change the plan
	// Heading is the list's heading. After a filter, or on another page
	// (Announce), it says how many codes are listed, and which; the
	// heading then takes focus (its id is the fragment of the filter
	// form and of the page links, "results").
	Heading  string
	Announce bool
	here     url.Values // the list's filters and page, for the delete dialog to come back to
}

// AtLimit reports whether the plan's QR codes are all used.
func (p *qrListPage) AtLimit() bool { return p.Limit >= 0 && p.Used >= p.Limit }

func (a *app) handleQRCodes(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "QR Codes", "qr")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	query := r.URL.Query()
	// A filter given twice is refused, as an unknown type is: which was
	// meant cannot be told. Other parameters are ignored (a link may
	// carry its own, such as utm_source).
	for _, name := range []string{"type", "createdByKey", "cursor"} {
		if len(query[name]) > 1 {
			redirectWith(w, r, "/qr-codes", "error", "The address gives "+strconv.Quote(name)+" more than once; showing all QR codes.")
			return
		}
	}
	f := snapglyph.QRFilter{Type: query.Get("type"), CreatedByKey: query.Get("createdByKey"), Cursor: query.Get("cursor"), Limit: qrPageSize}
	if f.Type != "" && !slices.Contains(qr.Types, f.Type) {
		redirectWith(w, r, "/qr-codes", "error", "There is no QR-code type "+strconv.Quote(f.Type)+"; showing all QR codes.")
		return
	}
	codes, next, err := a.svc.QRCodes(r.Context(), creator(r), b.Org.ID, f)
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.EINVALID && f.Cursor != "" {
			redirectWith(w, r, "/qr-codes", "error", "That page link is no longer valid; here are the newest QR codes.")
			return
		}
		a.fail(w, r, err)
		return
	}
	p := &qrListPage{base: b, Filtered: f.Type != "" || f.CreatedByKey != "", KeyFilter: f.CreatedByKey,
		Limit: b.Org.QRCodeLimit(a.now()), CanPlan: b.User.Role == snapglyph.RoleOwner}
	for _, c := range codes {
		p.Codes = append(p.Codes, qrView{c})
	}
	filters := url.Values{}
	if f.Type != "" {
		filters.Set("type", f.Type)
	}
	if f.CreatedByKey != "" {
		filters.Set("createdByKey", f.CreatedByKey)
	}
	p.here = maps.Clone(filters)
	if f.Cursor != "" {
		p.here.Set("cursor", f.Cursor)
		p.First = "/qr-codes"
		if len(filters) > 0 {
			p.First += "?" + filters.Encode() + "#results"
		}
	}
	if next != "" {
		filters.Set("cursor", next)
		p.Next = "/qr-codes?" + filters.Encode() + "#results"
	}
	p.Types = append(p.Types, keyOption{"", "All types", f.Type == ""})
	for _, t := range qr.Types {
		p.Types = append(p.Types, keyOption{t, typeLabels[t][1], t == f.Type})
	}
	if b.User.Role.CanManageKeys() {
		keys, err := a.svc.Keys(r.Context(), actor(r), b.Org.ID, true)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		found := false
		for _, k := range keys {
			label := k.Name + " (" + k.Prefix + "...)"
			if k.Status == snapglyph.KeyRevoked {
				label += " · revoked"
			}
			found = found || k.ID == f.CreatedByKey
			p.Keys = append(p.Keys, keyOption{k.ID, label, k.ID == f.CreatedByKey})
		}
		if f.CreatedByKey != "" && !found {
			p.Keys = append(p.Keys, keyOption{f.CreatedByKey, f.CreatedByKey + " (not a key of this organisation)", true})
		}
		if len(p.Keys) > 0 {
			p.Keys = append([]keyOption{{"", "Any creator", f.CreatedByKey == ""}}, p.Keys...)
		}
	}
	if f.CreatedByKey != "" && p.Keys == nil {
		p.KeyLabel = f.CreatedByKey
		if len(codes) > 0 {
			p.KeyLabel = codes[0].CreatedBy.Name + " (" + codes[0].CreatedBy.Prefix + "...)"
		}
	}
	total := -1 // the codes the filters match, when known
	if p.Limit >= 0 || !p.Filtered && f.Cursor != "" {
		if p.Used, err = a.svc.CountQRCodes(r.Context(), creator(r), b.Org.ID); err != nil {
			a.fail(w, r, err)
			return
		}
		if !p.Filtered {
			total = p.Used
		}
	}
	switch {
	case !p.Filtered:
	case next == "" && f.Cursor == "":
		total = len(codes) // one page holds them all
	default:
		if total, err = a.svc.CountQRCodesMatching(r.Context(), creator(r), b.Org.ID, f); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	p.Announce = p.Filtered || f.Cursor != ""
	p.Heading = p.heading(f, total)
	a.render(w, r, http.StatusOK, "qrcodes.html", p)
}

// heading is the list's heading: "All QR codes"; announced, how many
// codes the filters match (or the whole list holds) and the filters in
// words: "2 QR codes, type Wi-Fi network". With more pages it says how
// many of them this page shows: "130 QR codes, type Website address: the
// newest 20 shown, more on the next page". A count is never only this
// page's passed off as the filter's: total is the count (-1 when not
// known), and without it the heading says what is known, that there are
// more than this page.
func (p *qrListPage) heading(f snapglyph.QRFilter, total int) string {
	if !p.Announce {
		return "All QR codes"
	}
	n := len(p.Codes)
	paged := p.Next != "" || p.First != ""
	var h string
	switch {
	case total >= 0:
		h = qrCount(total)
	case !paged:
		h = qrCount(n)
	case p.First == "":
		h = "More than " + qrCount(n)
	default:
		h = "Older QR codes"
	}
	parts := []string{h}
	if f.Type != "" {
		parts = append(parts, "type "+typeLabels[f.Type][1])
	}
	if f.CreatedByKey != "" {
		key := p.KeyLabel
		for _, k := range p.Keys {
			if k.Selected && k.ID != "" {
				key = k.Label
			}
		}
		parts = append(parts, "created by the API key "+key)
	}
	h = strings.Join(parts, ", ")
	switch {
	case !paged:
	case p.First == "":
		h += ": the newest " + strconv.Itoa(n) + " shown, more on the next page"
	case p.Next != "":
		h += ": " + strconv.Itoa(n) + " shown here, more on the next page"
	case n == 0:
		h += ": none left"
	case n == 1:
		h += ": the oldest one shown here"
	default:
		h += ": the oldest " + strconv.Itoa(n) + " shown here"
	}
	return h
}

// qrCount is n QR codes, in words: "1 QR code", "1,000 QR codes".
func qrCount(n int) string {
	if n == 1 {
		return "1 QR code"
	}
	return snapglyph.FormatCount(int64(n)) + " QR codes"
}

// DeleteLink is the list's link to delete the code id: the dialog's
// Cancel comes back to this page of the list, to the code's Delete.
func (p *qrListPage) DeleteLink(id string) string {
	v := url.Values{"from": {"list"}}
	for k, vs := range p.here {
		v[k] = vs
	}
	return "/qr-codes/" + url.PathEscape(id) + "/delete?" + v.Encode()
}
