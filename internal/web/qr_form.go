// Reading the create and edit form into the service's input, and the
// service's field problems back onto the form's fields.
//
// The form is multipart and read as a stream: a logo is kept up to
// 256 KiB, and the rest of a larger file is counted and discarded, so its
// size can be reported without holding it. The first 256 KiB + 1 bytes go
// to the service, which refuses the size and reports every other problem
// at once (so nothing is stored). A logo that was fine while the form came
// back for another reason is carried in a hidden field, so the user does
// not have to pick it again.

package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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

// qrFormFields are the names of the fields qrcodes_form.html sends: the
// name, the type, every type's content fields ("wifi.ssid"; without
// scripts the form sends all types' fields, and only the chosen type's
// are read), the design, and the logo's (the file, the box that removes
// the saved one, and a logo carried from an earlier attempt). The edit
// form also sends "id" (withID).
var qrFormFields = func() map[string]bool {
	m := map[string]bool{"name": true, "type": true, "removeLogo": true, "logoData": true, "logoName": true}
	for name := range designLabels { // the colours, errorCorrection, margin, logo
		m[name] = true
	}
	for typ, fields := range contentFields {
		for _, cf := range fields {
			m[typ+"."+cf.Key] = true
		}
	}
	return m
}()

// Whether a QR-code form handler takes the "id" field: the edit form
// sends it, and so its preview; the create form has none.
const (
	withoutID = false
	withID    = true
)

// readQRForm reads the QR-code form from a multipart or urlencoded post,
// or from the query of a GET. It refuses, as readForm does, a form that
// sends a field twice or one the form does not have (a formFieldsError,
// naming it): what it asks for would be dropped without a word.
func readQRForm(w http.ResponseWriter, r *http.Request, takesID bool) (*qrForm, error) {
	f := &qrForm{Values: url.Values{}}
	var files []string // the names of the file parts
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
				if name != "" {
					files = append(files, name)
				}
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
	if err := checkQRFields(f.Values, files, takesID); err != nil {
		return nil, err
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

// checkQRFields refuses QR-code form fields (values, and the names of its
// file parts) that fieldsProblem refuses.
func checkQRFields(values url.Values, files []string, takesID bool) error {
	sent := values
	if len(files) > 0 {
		sent = maps.Clone(values)
		for _, name := range files {
			sent[name] = append(sent[name], "")
		}
	}
	has := func(name string) bool { return qrFormFields[name] || name == "id" && takesID }
	if msg := fieldsProblem(sent, has); msg != "" {
		return formFieldsError(msg)
	}
	return nil
}

// formFailed answers a form that could not be read.
func (a *app) formFailed(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorKind(err) == snapglyph.EINVALID {
		a.badText(w, r, err)
		return
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.Is(err, errFormTooLarge) {
		a.renderError(w, r, http.StatusRequestEntityTooLarge, "The form is too large",
			fmt.Sprintf("A logo can be at most 256 KiB (this file is over %d MiB). Go back, choose a smaller file, and try again.", maxQRFormBytes>>20))
		return
	}
	a.renderError(w, r, http.StatusBadRequest, "Bad request", formProblem(err))
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
		case name == "content" && e.Code == "content_too_long":
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
