package web

// The QR Codes pages: list, create and edit with a live preview, detail
// with downloads, delete with a confirmation.
//
// Choices:
//
//   - Every change goes through the service, as the signed-in user
//     (snapglyph.Creator of type user, named by email as in the audit
//     log), so the API and the dashboard apply the same rules. Nothing here
//     touches the meter: pages, previews, images and downloads count no API
//     call and no image credit (those meter the API only).
//   - The form holds every type's fields. CSS (:has) shows only the chosen
//     type's, and app.js also disables the others; with neither, all are
//     shown under their type's heading, and only the chosen type's are
//     read. GET /qr-codes/new?type=wifi preselects a type.
//   - The form is multipart and read as a stream: a logo is kept up to
//     256 KiB, and the rest of a larger file is counted and discarded, so
//     its size can be reported without holding it. The first 256 KiB + 1
//     bytes go to the service, which refuses the size and reports every
//     other problem at once (so nothing is stored). A logo that was fine
//     while the form came back for another reason is carried in a hidden
//     field, so the user does not have to pick it again.
//   - The key filter lists the organisation's keys, revoked ones too, to
//     Owners and Admins (service.Keys). Members may not list keys; they
//     filter by a key with the link in the "Created by" column, and the page
//     names the key from the codes it lists.
//   - The preview (POST /qr-codes/preview from app.js; GET with the same
//     fields in the query works too) checks the form with the qr package's
//     functions the service uses (Payload, Design.Validate, Encode) and
//     stores nothing. It answers SVG, or PNG when there is a logo, and 422
//     text/plain with one problem per line.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// qrPageSize is how many QR codes the list shows per page.
const qrPageSize = 20

// Limits of a QR-code form body.
const (
	// maxQRFormBytes bounds the whole body. A logo file up to this size is
	// read (and all but its first 256 KiB discarded) so that its size can
	// be reported next to the field instead of on an error page.
	maxQRFormBytes = 16 << 20
	// maxQRFieldBytes bounds the text fields together: a carried logo is
	// about 342 KiB of base64.
	maxQRFieldBytes = 1 << 20
	maxQRFormParts  = 100
)

// pngSizes are the PNG download sizes offered, in pixels.
var pngSizes = []int{256, 512, 1024, 2048}

// typeLabels name the QR-code types: short (the type chooser, the list)
// and long (a heading).
var typeLabels = map[string][2]string{
	"url":   {"URL", "Website address"},
	"text":  {"Text", "Plain text"},
	"email": {"Email", "Email message"},
	"phone": {"Phone", "Phone call"},
	"sms":   {"SMS", "Text message (SMS)"},
	"wifi":  {"Wi-Fi", "Wi-Fi network"},
	"vcard": {"vCard", "Contact card (vCard)"},
}

func typeLabel(t string) string {
	if l, ok := typeLabels[t]; ok {
		return l[0]
	}
	return t
}

// creator is the signed-in user as the creator of QR codes.
func creator(r *http.Request) snapglyph.Creator {
	s := sessionFrom(r.Context())
	return snapglyph.Creator{Type: snapglyph.CreatorUser, ID: s.UserID, Name: s.Email}
}

// --- The fields of each type --------------------------------------------

type fieldKind string

const (
	kindLine   fieldKind = "line"   // <input>
	kindText   fieldKind = "text"   // <textarea>
	kindLines  fieldKind = "lines"  // <textarea>, one value per line: a JSON array
	kindBool   fieldKind = "bool"   // a checkbox
	kindSelect fieldKind = "select" // a <select>
)

type option struct{ Value, Label string }

// contentField is one field of a type's content. Its form name is the
// type and the key: "wifi.ssid", "vcard.address.city".
type contentField struct {
	Key          string // the JSON name; "address.city" inside the vCard's address
	Label        string
	Kind         fieldKind
	Input        string // the <input> type
	Required     bool   // always sent, so that an empty one is reported
	Optional     bool   // labelled "(optional)"
	Keep         bool   // keep leading and trailing spaces (SSIDs, passwords)
	Wide         bool   // a whole row of the grid
	Options      []option
	Help         string
	Placeholder  string
	Autocomplete string
}

var contentFields = map[string][]contentField{
	"url": {
		{Key: "url", Label: "Website address", Kind: kindLine, Input: "url", Required: true, Wide: true, Placeholder: "https://example.com/menu",
			Help: "The page a scan opens. It starts with https:// (or http://)."},
	},
	"text": {
		{Key: "text", Label: "Text", Kind: kindText, Required: true, Wide: true, Help: "Scanners show the text as it is."},
	},
	"email": {
		{Key: "to", Label: "To", Kind: kindLine, Input: "email", Required: true, Wide: true, Placeholder: "hello@example.com", Autocomplete: "off"},
		{Key: "subject", Label: "Subject", Kind: kindLine, Input: "text", Optional: true, Wide: true},
		{Key: "body", Label: "Message", Kind: kindText, Optional: true, Wide: true, Help: "A scan opens a new email with these filled in."},
	},
	"phone": {
		{Key: "number", Label: "Phone number", Kind: kindLine, Input: "tel", Required: true, Placeholder: "+1 555 123 4567", Autocomplete: "off",
			Help: "With the country code. Spaces, dashes, dots and parentheses are left out."},
	},
	"sms": {
		{Key: "number", Label: "Phone number", Kind: kindLine, Input: "tel", Required: true, Placeholder: "+1 555 123 4567", Autocomplete: "off",
			Help: "With the country code."},
		{Key: "message", Label: "Message", Kind: kindText, Optional: true, Wide: true, Help: "A scan opens a new text message with this filled in."},
	},
	"wifi": {
		{Key: "ssid", Label: "Network name (SSID)", Kind: kindLine, Input: "text", Required: true, Keep: true, Autocomplete: "off"},
		{Key: "security", Label: "Security", Kind: kindSelect, Required: true, Options: []option{
			{"WPA", "WPA, WPA2 or WPA3"}, {"WEP", "WEP (old networks)"}, {"none", "None (open network)"}}},
		{Key: "password", Label: "Password", Kind: kindLine, Input: "text", Keep: true, Autocomplete: "off",
			Help: "WPA: 8 to 63 characters. Leave empty for an open network."},
		{Key: "hidden", Label: "Hidden network (it does not broadcast its name)", Kind: kindBool},
	},
	"vcard": {
		{Key: "firstName", Label: "First name", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "lastName", Label: "Last name", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "organization", Label: "Organisation", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "title", Label: "Job title", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "phones", Label: "Phone numbers", Kind: kindLines, Help: "One per line, at most 5."},
		{Key: "emails", Label: "Email addresses", Kind: kindLines, Help: "One per line, at most 5."},
		{Key: "website", Label: "Website", Kind: kindLine, Input: "url", Wide: true, Placeholder: "https://example.com", Autocomplete: "off"},
		{Key: "address.street", Label: "Street", Kind: kindText, Wide: true, Autocomplete: "off"},
		{Key: "address.city", Label: "City", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "address.postalCode", Label: "Postal code", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "address.region", Label: "State or region", Kind: kindLine, Input: "text", Autocomplete: "off"},
		{Key: "address.country", Label: "Country", Kind: kindLine, Input: "text", Autocomplete: "off"},
	},
}

// typeNotes are said once above a type's fields.
var typeNotes = map[string]string{
	"vcard": "Fill in at least a name or an organisation; every other field is optional.",
}

// The design fields: form name → label.
var designLabels = map[string]string{
	"foreground":      "Foreground colour",
	"background":      "Background colour",
	"errorCorrection": "Error correction",
	"margin":          "Margin",
	"logo":            "Logo",
}

// levels are the error-correction levels: how much of a code can be
// damaged and still scan.
var levels = []option{
	{"L", "L · 7%, holds the most"},
	{"M", "M · 15%, the usual"},
	{"Q", "Q · 25%"},
	{"H", "H · 30%, for logos"},
}

func fieldID(name string) string { return "f-" + strings.ReplaceAll(name, ".", "-") }

// --- Reading the form ---------------------------------------------------

// qrForm is the create/edit form as sent (or as filled from a saved code).
type qrForm struct {
	Values     url.Values
	Logo       []byte // a new logo: uploaded (at most qr.MaxLogoBytes+1 bytes kept) or carried
	LogoName   string
	LogoSize   int64 // the uploaded file's full size
	RemoveLogo bool
}

func (f *qrForm) typ() string { return f.Values.Get("type") }

var errFormTooLarge = errors.New("web: form too large")

// readQRForm reads the QR-code form from a multipart or urlencoded post,
// or from the query of a GET.
func readQRForm(w http.ResponseWriter, r *http.Request) (*qrForm, error) {
	f := &qrForm{Values: url.Values{}}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Method == http.MethodGet:
		f.Values = r.URL.Query()
	case mt == "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, maxQRFormBytes)
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, err
		}
		budget := int64(maxQRFieldBytes)
		for parts := 0; ; parts++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if parts >= maxQRFormParts {
				return nil, errFormTooLarge
			}
			name := p.FormName()
			if p.FileName() != "" || name == "logo" {
				if name == "logo" && f.Logo == nil {
					b, err := io.ReadAll(io.LimitReader(p, qr.MaxLogoBytes+1))
					if err != nil {
						return nil, err
					}
					rest, err := io.Copy(io.Discard, p)
					if err != nil {
						return nil, err
					}
					if len(b) > 0 {
						f.Logo, f.LogoName, f.LogoSize = b, p.FileName(), int64(len(b))+rest
					}
				} else if _, err := io.Copy(io.Discard, p); err != nil {
					return nil, err
				}
				continue
			}
			b, err := io.ReadAll(io.LimitReader(p, budget+1))
			if err != nil {
				return nil, err
			}
			if budget -= int64(len(b)); budget < 0 {
				return nil, errFormTooLarge
			}
			if name != "" {
				f.Values.Add(name, string(b))
			}
		}
	default:
		r.Body = http.MaxBytesReader(w, r.Body, maxQRFieldBytes)
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		f.Values = r.PostForm
	}
	if err := snapglyph.CheckValues(f.Values); err != nil {
		return nil, err // a multipart field that is not text
	}
	f.RemoveLogo = f.Values.Get("removeLogo") != ""
	switch {
	case f.Logo != nil:
		f.RemoveLogo = false // a file chosen now replaces the logo, whatever else is ticked
	case !f.RemoveLogo && f.Values.Get("logoData") != "":
		// A logo uploaded with an earlier attempt of this form.
		if b, err := base64.StdEncoding.DecodeString(f.Values.Get("logoData")); err == nil && len(b) > 0 && len(b) <= qr.MaxLogoBytes {
			f.Logo, f.LogoName, f.LogoSize = b, f.Values.Get("logoName"), int64(len(b))
		}
	}
	return f, nil
}

// formFailed answers a form that could not be read.
func (a *app) formFailed(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorCode(err) == snapglyph.EINVALID {
		a.badText(w, r, err)
		return
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.Is(err, errFormTooLarge) {
		a.renderError(w, r, http.StatusRequestEntityTooLarge, "The form is too large",
			fmt.Sprintf("A logo can be at most 256 KiB (this file is over %d MiB). Go back, choose a smaller file, and try again.", maxQRFormBytes>>20))
		return
	}
	a.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
}

// value returns a content field's value as sent: trimmed unless the
// field keeps spaces, with line breaks as "\n".
func (f *qrForm) value(typ string, cf contentField) string {
	v := f.Values.Get(typ + "." + cf.Key)
	v = strings.ReplaceAll(v, "\r\n", "\n")
	if !cf.Keep && cf.Kind != kindText {
		v = strings.TrimSpace(v)
	}
	return v
}

// jsonObject writes a JSON object with keys in the order added.
type jsonObject struct{ b bytes.Buffer }

func (o *jsonObject) add(key string, v any) {
	if o.b.Len() == 0 {
		o.b.WriteByte('{')
	} else {
		o.b.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	val, _ := json.Marshal(v)
	o.b.Write(k)
	o.b.WriteByte(':')
	o.b.Write(val)
}

func (o *jsonObject) bytes() json.RawMessage {
	if o.b.Len() == 0 {
		return json.RawMessage("{}")
	}
	return append(json.RawMessage(nil), append(o.b.Bytes(), '}')...)
}

// content builds the content object of the chosen type from its fields.
// Required fields are always sent (so an empty one is reported), others
// only when filled in.
func (f *qrForm) content() json.RawMessage {
	typ := f.typ()
	var obj, addr jsonObject
	for _, cf := range contentFields[typ] {
		v := f.value(typ, cf)
		switch {
		case cf.Kind == kindBool:
			if v != "" {
				obj.add(cf.Key, true)
			}
		case cf.Kind == kindLines:
			var list []string
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			if len(list) > 0 {
				obj.add(cf.Key, list)
			}
		case strings.HasPrefix(cf.Key, "address."):
			if v != "" {
				addr.add(strings.TrimPrefix(cf.Key, "address."), v)
			}
		case v != "" || cf.Required:
			obj.add(cf.Key, v)
		}
	}
	if addr.b.Len() > 0 {
		obj.add("address", addr.bytes())
	}
	return obj.bytes()
}

// design builds the design object. An empty margin is the default; one
// that is not a number is sent as a string for the service to refuse.
// The logo is sent when new, null when removed, and left out otherwise
// (an update keeps the saved one).
func (f *qrForm) design() json.RawMessage {
	var obj jsonObject
	for _, k := range []string{"foreground", "background", "errorCorrection"} {
		if v := strings.TrimSpace(f.Values.Get(k)); v != "" {
			obj.add(k, v)
		}
	}
	m := strings.TrimSpace(f.Values.Get("margin"))
	if n, err := strconv.Atoi(m); err == nil {
		obj.add("margin", n)
	} else if m == "" {
		obj.add("margin", qr.DefaultMargin)
	} else {
		obj.add("margin", m)
	}
	switch {
	case f.Logo != nil:
		obj.add("logo", f.Logo)
	case f.RemoveLogo:
		obj.add("logo", nil)
	}
	return obj.bytes()
}

func (f *qrForm) input() service.QRInput {
	name, typ := f.Values.Get("name"), f.typ()
	return service.QRInput{Name: &name, Type: &typ, Content: f.content(), Design: f.design()}
}

// formFromCode fills the form with a saved QR code.
func formFromCode(q *snapglyph.QRCode) *qrForm {
	v := url.Values{}
	v.Set("name", q.Name)
	v.Set("type", q.Type)
	var m map[string]json.RawMessage
	json.Unmarshal(q.Content, &m)
	var addr map[string]json.RawMessage
	json.Unmarshal(m["address"], &addr)
	for _, cf := range contentFields[q.Type] {
		raw := m[cf.Key]
		if k, ok := strings.CutPrefix(cf.Key, "address."); ok {
			raw = addr[k]
		}
		name := q.Type + "." + cf.Key
		switch cf.Kind {
		case kindBool:
			var b bool
			if json.Unmarshal(raw, &b) == nil && b {
				v.Set(name, "on")
			}
		case kindLines:
			var list []string
			json.Unmarshal(raw, &list)
			v.Set(name, strings.Join(list, "\n"))
		default:
			var s string
			json.Unmarshal(raw, &s)
			v.Set(name, s)
		}
	}
	v.Set("foreground", q.Design.Foreground)
	v.Set("background", q.Design.Background)
	v.Set("errorCorrection", q.Design.ErrorCorrection)
	v.Set("margin", strconv.Itoa(q.Design.Margin))
	return &qrForm{Values: v}
}

func newForm(typ string) *qrForm {
	if !slices.Contains(qr.Types, typ) {
		typ = "url"
	}
	d := qr.DefaultDesign()
	v := url.Values{}
	v.Set("type", typ)
	v.Set("foreground", d.Foreground)
	v.Set("background", d.Background)
	v.Set("errorCorrection", d.ErrorCorrection)
	v.Set("margin", strconv.Itoa(d.Margin))
	return &qrForm{Values: v}
}

// --- Field errors ---------------------------------------------------------

var listIndex = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// formField finds the form field of a service field path ("content.ssid",
// "content.phones[1]", "design.margin") for the type; "" when the form has
// no such field. It returns the label to name it by.
func formField(typ, path string) (name, label string) {
	switch {
	case path == "name":
		return "name", "Name"
	case path == "type":
		return "type", "Type"
	case path == "content":
		return "content", "Content"
	case strings.HasPrefix(path, "design."):
		k := strings.TrimPrefix(path, "design.")
		if l, ok := designLabels[k]; ok {
			return k, l
		}
	case strings.HasPrefix(path, "content."):
		k := strings.TrimPrefix(path, "content.")
		line := ""
		if m := listIndex.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[2])
			k, line = m[1], fmt.Sprintf(", line %d", n+1)
		}
		for _, cf := range contentFields[typ] {
			if cf.Key == k {
				return typ + "." + k, cf.Label + line
			}
		}
	}
	return "", ""
}

// friendlier replaces API wording that names JSON fields.
var friendlier = map[string]string{
	"at least one of firstName, lastName or organization is required": "Enter a first name, a last name or an organisation.",
}

// problemText says what is wrong with a field, naming it.
func problemText(label, msg string) string {
	if s, ok := friendlier[msg]; ok {
		return s
	}
	for _, verb := range []string{"is ", "must ", "has ", "needs ", "contains ", "contrast "} {
		if strings.HasPrefix(msg, verb) && label != "" {
			return sentence(label + " " + msg)
		}
	}
	return sentence(msg)
}

type problem struct {
	ID   string // the field's element id, for the summary's link; "" for none
	Text string
}

// formErrors sorts a refusal's field problems into the form's fields, and
// lists them all for the summary. A logo refused for its size names the
// file's real size (the service saw only its first 256 KiB + 1 bytes).
func formErrors(err error, f *qrForm) (byField map[string]string, all []problem) {
	byField = map[string]string{}
	var e *snapglyph.Error
	if !errors.As(err, &e) {
		return byField, nil
	}
	typ := f.typ()
	for _, fe := range e.Fields {
		name, label := formField(typ, fe.Field)
		text := problemText(label, fe.Message)
		switch {
		case name == "logo" && f.LogoSize > qr.MaxLogoBytes:
			text = fmt.Sprintf("The file is %s; a logo can be at most 256 KiB.", byteSize(f.LogoSize))
		case name == "content" && e.Reason == "content_too_long":
			text = sentence(e.Message)
		}
		p := problem{Text: text}
		if name != "" {
			p.ID = fieldID(name)
			if name == "type" {
				p.ID = "type-" + typ
			}
			if prev, ok := byField[name]; ok {
				byField[name] = prev + " " + text
			} else {
				byField[name] = text
			}
		}
		all = append(all, p)
	}
	return byField, all
}

// byteSize writes a file size as people do: 900 bytes, 12 KB, 1.2 MB.
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return plural(int(n), "byte")
	case n < 1000*1000:
		return fmt.Sprintf("%d KB", (n+500)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// --- The list -------------------------------------------------------------

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
	f := snapglyph.QRFilter{Type: query.Get("type"), CreatedByKey: query.Get("createdByKey"), Cursor: query.Get("cursor"), Limit: qrPageSize}
	if f.Type != "" && !slices.Contains(qr.Types, f.Type) {
		redirectWith(w, r, "/qr-codes", "error", "There is no QR-code type "+strconv.Quote(f.Type)+"; showing all QR codes.")
		return
	}
	codes, next, err := a.svc.QRCodes(r.Context(), creator(r), b.Org.ID, f)
	if err != nil {
		if snapglyph.ErrorCode(err) == snapglyph.EINVALID && f.Cursor != "" {
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
	if f.Cursor != "" {
		p.First = "/qr-codes"
		if len(filters) > 0 {
			p.First += "?" + filters.Encode()
		}
	}
	if next != "" {
		filters.Set("cursor", next)
		p.Next = "/qr-codes?" + filters.Encode()
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
	if p.Limit >= 0 {
		if p.Used, err = a.db.CountQRCodes(r.Context(), b.Org.ID); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	a.render(w, r, http.StatusOK, "qrcodes.html", p)
}

// --- Create and edit --------------------------------------------------------

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
		if p.Used, err = a.db.CountQRCodes(r.Context(), b.Org.ID); err != nil {
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

func planName(p snapglyph.Plan) string {
	s := string(p)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (a *app) handleQRCreate(w http.ResponseWriter, r *http.Request) {
	f, err := readQRForm(w, r)
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
	f, err := readQRForm(w, r)
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
	code := snapglyph.ErrorCode(err)
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
		if snapglyph.ErrorReason(err) == "qr_code_limit_reached" {
			p.Alert = fmt.Sprintf("Your %s plan holds %d QR codes and all are used. Delete one, or upgrade to Pro for unlimited QR codes; your input is kept below.", planName(p.Org.EffectivePlan(a.now())), p.Limit)
			p.PlanLink = p.User.Role == snapglyph.RoleOwner
		}
	} else if len(all) == 0 {
		p.Alert = sentence(snapglyph.ErrorMessage(err))
	}
	a.render(w, r, status, "qrcodes_form.html", p)
}

// qrFail draws the error page for a QR-code action; a code that is not
// in the organisation is "not found", whoever's it is.
func (a *app) qrFail(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorCode(err) == snapglyph.ENOTFOUND {
		a.renderError(w, r, http.StatusNotFound, "QR code not found",
			"There is no such QR code in this organisation; it may have been deleted.")
		return
	}
	a.fail(w, r, err)
}

// --- Detail, delete --------------------------------------------------------

type qrDetailPage struct {
	base
	Code   qrView
	Sizes  []int
	Delete bool // the delete confirmation is open
}

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

func (a *app) handleQRCode(w http.ResponseWriter, r *http.Request) {
	p, err := a.detailPage(w, r)
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "qrcodes_detail.html", p)
}

func (a *app) handleQRDeleteConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := a.detailPage(w, r)
	if err != nil {
		a.qrFail(w, r, err)
		return
	}
	p.Delete = true
	a.render(w, r, http.StatusOK, "qrcodes_detail.html", p)
}

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

// --- Images ------------------------------------------------------------------

// handleQRImage serves a saved code's image for the pages and downloads:
// session-authenticated and never metered.
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
		if format == "svg" && q.HasLogo() {
			a.renderError(w, r, http.StatusUnprocessableEntity, "No SVG for a code with a logo",
				"Logos are drawn in PNG images only. Download "+q.Name+" as PNG instead.")
			return
		}
		etag, err := a.svc.ImageTag(q, format, size)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if r.Header.Get("If-None-Match") == etag {
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified) // answered without rendering
			return
		}
		img, err := a.svc.RenderQRCode(r.Context(), q, format, size)
		if errors.Is(err, service.ErrRenderBusy) {
			a.renderBusy(w, r)
			return
		} else if err != nil {
			a.fail(w, r, err)
			return
		}
		h := w.Header()
		h.Set("ETag", img.ETag)
		h.Set("Cache-Control", "private, no-cache")
		if v := r.URL.Query().Get("download"); v == "1" || v == "true" {
			h.Set("Content-Disposition", service.Attachment(q.Name, format))
		}
		h.Set("Content-Type", img.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(img.Data)))
		w.Write(img.Data)
	}
}

// renderBusy answers an image the node has no render slot for: the
// dashboard shares the API's bound on renders in flight.
func (a *app) renderBusy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	a.renderError(w, r, http.StatusServiceUnavailable, "Too many images at once",
		"This server is drawing as many images as it can. Please try again in a moment.")
}

// --- Preview -------------------------------------------------------------------

// handleQRPreview draws the form's code without storing anything: SVG,
// PNG with a logo, or 422 with the problems as text, one per line. On the
// edit page the form carries the code's id, whose saved logo is used
// unless the form replaces or removes it.
func (a *app) handleQRPreview(w http.ResponseWriter, r *http.Request) {
	f, err := readQRForm(w, r)
	if err != nil {
		status, msg := http.StatusBadRequest, "The form could not be read."
		if errors.Is(err, errFormTooLarge) || errors.As(err, new(*http.MaxBytesError)) {
			status = http.StatusRequestEntityTooLarge
		} else if snapglyph.ErrorCode(err) == snapglyph.EINVALID {
			status, msg = http.StatusUnprocessableEntity, sentence(snapglyph.ErrorMessage(err))
		}
		previewText(w, status, msg)
		return
	}
	var saved []byte
	if id := f.Values.Get("id"); id != "" && f.Logo == nil && !f.RemoveLogo {
		q, err := a.svc.QRCode(r.Context(), creator(r), sessionFrom(r.Context()).OrgID, id)
		if err != nil {
			if snapglyph.ErrorCode(err) == snapglyph.ENOTFOUND {
				previewText(w, http.StatusNotFound, "This QR code does not exist any more.")
				return
			}
			a.log.Error("dashboard: preview", "err", err)
			previewText(w, statusOf(err), "The preview is not available right now.")
			return
		}
		saved = q.Logo
	}
	// The logo is decoded through the service's cache and bound, so a
	// form previewed at every keystroke decodes its logo once.
	busy := false
	decode := func(b []byte) (*qr.Logo, error) {
		l, err := a.svc.DecodeLogo(b)
		busy = busy || errors.Is(err, service.ErrRenderBusy)
		return l, err
	}
	payload, d, problems := f.check(saved, decode)
	if busy {
		w.Header().Set("Retry-After", "1")
		previewText(w, http.StatusServiceUnavailable, "The preview is busy; it will come back in a moment.")
		return
	}
	if len(problems) > 0 {
		previewText(w, http.StatusUnprocessableEntity, strings.Join(problems, "\n"))
		return
	}
	format := "svg"
	if len(d.Logo) > 0 {
		format = "png"
	}
	img, err := a.svc.Render(payload, d, format, qr.DefaultSize)
	if errors.Is(err, service.ErrRenderBusy) {
		w.Header().Set("Retry-After", "1")
		previewText(w, http.StatusServiceUnavailable, "The preview is busy; it will come back in a moment.")
		return
	} else if err != nil {
		a.log.Error("dashboard: preview", "err", err)
		previewText(w, http.StatusInternalServerError, "The preview could not be drawn.")
		return
	}
	w.Header().Set("Content-Type", img.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(img.Data)))
	w.Write(img.Data)
}

func previewText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, text)
}

// check validates the form as the service would (the same qr functions)
// and returns what to draw, or the problems in words. saved is the code's
// saved logo, used when the form neither replaces nor removes it; decode
// checks the logo (qr.DecodeLogo, or a cache in front of it).
func (f *qrForm) check(saved []byte, decode func([]byte) (*qr.Logo, error)) (payload string, d qr.Design, problems []string) {
	typ := f.typ()
	var errs []qr.FieldError
	payload, errs = qr.Payload(typ, f.content())
	d = qr.DefaultDesign()
	for k, dst := range map[string]*string{"foreground": &d.Foreground, "background": &d.Background, "errorCorrection": &d.ErrorCorrection} {
		if v := strings.TrimSpace(f.Values.Get(k)); v != "" {
			*dst = v
		}
	}
	if m := strings.TrimSpace(f.Values.Get("margin")); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil {
			errs = append(errs, qr.FieldError{Field: "design.margin", Message: "must be a whole number"})
		}
		d.Margin = n
	}
	switch {
	case f.Logo != nil:
		d.Logo = f.Logo
	case !f.RemoveLogo:
		d.Logo = saved
	}
	d.Normalize()
	errs = append(errs, d.ValidateWith(decode)...)
	for _, e := range errs {
		name, label := formField(typ, e.Field)
		text := problemText(label, e.Message)
		if name == "logo" && f.LogoSize > qr.MaxLogoBytes {
			text = fmt.Sprintf("The logo file is %s; a logo can be at most 256 KiB.", byteSize(f.LogoSize))
		}
		problems = append(problems, text)
	}
	if len(problems) > 0 {
		return "", d, problems
	}
	if _, err := qr.Encode(payload, d.ErrorCorrection); err != nil {
		var tl *qr.TooLongError
		if errors.As(err, &tl) {
			return "", d, []string{fmt.Sprintf("The content needs %d bytes, but a QR code with error correction %s holds at most %d. Shorten it or choose a lower level (L holds the most).", tl.Got, tl.Level, tl.Max)}
		}
		return "", d, []string{"The content cannot be encoded."}
	}
	return payload, d, nil
}
