// Creating and editing a QR code: GET /qr-codes/new (?type=wifi preselects
// a type), POST /qr-codes/new, GET and POST /qr-codes/{id}/edit. A refusal
// draws the form again with the user's input and each problem next to its
// field.

package web

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

type fieldView struct {
	contentField
	ID, Name, Value string
	Error           string
	Describe        string // the ids of its help and error
	Checked         bool
	Options         []keyOption
}

type typeSection struct {
	Type, Label, Heading, Note string
	Checked                    bool
	Fields                     []fieldView
}

type qrFormPage struct {
	base
	Edit          *qrView // nil: a new code
	Action        string
	Cancel        string
	Name          string
	Sections      []typeSection
	Foreground    string
	Background    string
	Margin        string
	Levels        []keyOption
	Errors        map[string]string // by form field name
	Problems      []problem
	Alert         string       // a refusal that is not about a field
	PlanLink      bool         // the alert is about the plan, and the user may change it
	Logo          string       // the current logo, described; "" for none
	LogoImage     template.URL // a data: URL of the current logo
	LogoData      string       // a carried logo, base64
	LogoName      string
	RemoveLogo    bool
	Preview       string // the initial preview image; "" for none
	PreviewOnLoad bool   // app.js refreshes the preview at once
	Used, Limit   int
}

// Err returns the error of a form field, for the template.
func (p *qrFormPage) Err(name string) string { return p.Errors[name] }

// ID is a form field's element id.
func (p *qrFormPage) ID(name string) string { return fieldID(name) }

// Described lists the ids that describe a field: its help and its error.
func (p *qrFormPage) Described(name string, help bool) string {
	var ids []string
	if help {
		ids = append(ids, fieldID(name)+"-help")
	}
	if p.Errors[name] != "" {
		ids = append(ids, fieldID(name)+"-error")
	}
	return strings.Join(ids, " ")
}

// formPage builds the form's page from f, with errors by field name;
// edit is the saved code, or nil.
func (a *app) formPage(w http.ResponseWriter, r *http.Request, f *qrForm, edit *snapglyph.QRCode, errs map[string]string) (*qrFormPage, error) {
	title := "Create QR Code"
	if edit != nil {
		title = "Edit " + edit.Name
	}
	b, err := a.newBase(w, r, title, "qr")
	if err != nil {
		return nil, err
	}
	typ := f.typ()
	if !slices.Contains(qr.Types, typ) {
		typ = "url"
	}
	v := f.Values
	if errs == nil {
		errs = map[string]string{}
	}
	p := &qrFormPage{base: b, Action: "/qr-codes/new", Cancel: "/qr-codes", Name: v.Get("name"), Errors: errs,
		Foreground: colorValue(v.Get("foreground"), "#000000"), Background: colorValue(v.Get("background"), "#ffffff"), Margin: v.Get("margin"),
		Limit: -1}
	if edit != nil {
		p.Edit = &qrView{edit}
		p.Action, p.Cancel = "/qr-codes/"+edit.ID+"/edit", "/qr-codes/"+edit.ID
		p.Preview = p.Edit.Image(512)
	}
	for _, t := range qr.Types {
		s := typeSection{Type: t, Label: typeLabels[t][0], Heading: typeLabels[t][1], Note: typeNotes[t], Checked: t == typ}
		for _, cf := range contentFields[t] {
			name := t + "." + cf.Key
			fv := fieldView{contentField: cf, ID: fieldID(name), Name: name, Value: v.Get(name), Checked: v.Get(name) != "",
				Error: errs[name], Describe: p.Described(name, cf.Help != "")}
			for i, o := range cf.Options {
				fv.Options = append(fv.Options, keyOption{o.Value, o.Label, o.Value == fv.Value || fv.Value == "" && i == 0})
			}
			s.Fields = append(s.Fields, fv)
		}
		p.Sections = append(p.Sections, s)
	}
	level := strings.ToUpper(v.Get("errorCorrection"))
	for _, l := range levels {
		p.Levels = append(p.Levels, keyOption{l.Value, l.Label, l.Value == level || level == "" && l.Value == "M"})
	}
	switch {
	case f.Logo != nil && f.LogoSize <= qr.MaxLogoBytes:
		p.Logo = "Your new logo"
		if f.LogoName != "" {
			p.Logo += " " + f.LogoName
		}
		p.Logo += " (" + byteSize(f.LogoSize) + ")"
		p.LogoData, p.LogoName = base64.StdEncoding.EncodeToString(f.Logo), f.LogoName
		p.LogoImage = logoDataURL(f.Logo)
	case edit != nil && len(edit.Logo) > 0:
		p.Logo = "The saved logo (" + p.Edit.LogoSize() + ")"
		p.LogoImage = logoDataURL(edit.Logo)
	}
	p.RemoveLogo = f.RemoveLogo
	if edit == nil && b.Org.QRCodeLimit(a.now()) >= 0 {
		p.Limit = b.Org.QRCodeLimit(a.now())
		if p.Used, err = a.svc.CountQRCodes(r.Context(), creator(r), b.Org.ID); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// logoDataURL shows a PNG or JPEG logo inline (the CSP allows data:
// images); other files are not shown.
func logoDataURL(b []byte) template.URL {
	ct := http.DetectContentType(b)
	if ct != "image/png" && ct != "image/jpeg" || len(b) > qr.MaxLogoBytes {
		return ""
	}
	return template.URL("data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(b))
}

// colorValue is a colour for <input type="color">, which takes only
// "#rrggbb" in lower case.
func colorValue(s, def string) string {
	if len(s) == 7 && s[0] == '#' {
		if _, err := hex.DecodeString(s[1:]); err == nil {
			return strings.ToLower(s)
		}
	}
	return def
}

func (a *app) handleQRNew(w http.ResponseWriter, r *http.Request) {
	p, err := a.formPage(w, r, newForm(r.URL.Query().Get("type")), nil, nil)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if p.Limit >= 0 && p.Used >= p.Limit {
		redirectWith(w, r, "/qr-codes", "error", fmt.Sprintf("Your %s plan holds %d QR codes and all are used. Delete one, or upgrade to Pro for unlimited QR codes.", planName(p.Org.EffectivePlan(a.now())), p.Limit))
		return
	}
	a.render(w, r, http.StatusOK, "qrcodes_form.html", p)
}

func (a *app) handleQRCreate(w http.ResponseWriter, r *http.Request) {
	f, err := readQRForm(w, r, withoutID)
	if err != nil {
		a.formFailed(w, r, err)
		return
	}
	q, err := a.svc.CreateQRCode(r.Context(), creator(r), sessionFrom(r.Context()).OrgID, f.input())
	if err != nil {
		a.formRefused(w, r, f, nil, err)
		return
	}
	redirectWith(w, r, "/qr-codes/"+q.ID, "success", q.Name+" was created.")
}

func (a *app) handleQREdit(w http.ResponseWriter, r *http.Request) {
	q, err := a.svc.QRCode(r.Context(), creator(r), sessionFrom(r.Context()).OrgID, r.PathValue("id"))
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	p, err := a.formPage(w, r, formFromCode(q), q, nil)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "qrcodes_form.html", p)
}

func (a *app) handleQRUpdate(w http.ResponseWriter, r *http.Request) {
	orgID := sessionFrom(r.Context()).OrgID
	saved, err := a.svc.QRCode(r.Context(), creator(r), orgID, r.PathValue("id"))
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	f, err := readQRForm(w, r, withID)
	if err != nil {
		a.formFailed(w, r, err)
		return
	}
	q, err := a.svc.UpdateQRCode(r.Context(), creator(r), orgID, saved.ID, f.input())
	if err != nil {
		a.formRefused(w, r, f, saved, err)
		return
	}
	redirectWith(w, r, "/qr-codes/"+q.ID, "success", q.Name+" was saved.")
}

// formRefused draws the form again with the user's input and what the
// service refused: every field problem next to its field, the others on
// top.
func (a *app) formRefused(w http.ResponseWriter, r *http.Request, f *qrForm, saved *snapglyph.QRCode, err error) {
	code := snapglyph.ErrorKind(err)
	if code == snapglyph.ENOTFOUND || code != snapglyph.EINVALID && code != snapglyph.EUNPROCESSABL && code != snapglyph.EFORBIDDEN {
		a.qrFail(w, r, err)
		return
	}
	status := http.StatusUnprocessableEntity
	byField, all := formErrors(err, f)
	if _, bad := byField["logo"]; bad {
		f.Logo, f.LogoSize = nil, 0 // not carried: the user must pick another
	}
	p, perr := a.formPage(w, r, f, saved, byField)
	if perr != nil {
		a.fail(w, r, perr)
		return
	}
	p.Problems, p.PreviewOnLoad = all, true
	if code == snapglyph.EFORBIDDEN {
		status = http.StatusForbidden
		p.Alert = sentence(snapglyph.ErrorMessage(err))
		if snapglyph.ErrorCode(err) == "qr_code_limit_reached" {
			p.Alert = fmt.Sprintf("Your %s plan holds %d QR codes and all are used. Delete one, or upgrade to Pro for unlimited QR codes; your input is kept below.", planName(p.Org.EffectivePlan(a.now())), p.Limit)
			p.PlanLink = p.User.Role == snapglyph.RoleOwner
		}
	} else if len(all) == 0 {
		p.Alert = sentence(snapglyph.ErrorMessage(err))
	}
	a.render(w, r, status, "qrcodes_form.html", p)
}
