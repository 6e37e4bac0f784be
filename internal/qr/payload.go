package qr

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// FieldError is one invalid input field, named by its JSON path as the API
// client sent it, e.g. "content.url", "content.phones[1]", "design.foreground".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Types lists the supported QR code types.
var Types = []string{"url", "text", "email", "phone", "sms", "wifi", "vcard"}

// Input limits, in bytes of UTF-8 unless said otherwise.
const (
	MaxURLLen   = 2048 // url, vcard website
	MaxTextLen  = 2953 // text, email subject+body, sms message: no QR code holds more bytes
	MaxEmailLen = 254  // one e-mail address (RFC 5321 path limit)
	MaxSSIDLen  = 32   // IEEE 802.11
	MaxFieldLen = 256  // each vCard text field
	MaxVCardN   = 5    // phones and e-mails per vCard
	minDigits   = 3    // phone numbers: 3 ("112") .. 15 (E.164) digits
	maxDigits   = 15
)

// Payload validates type-specific content (the raw JSON object of the
// request's "content" field) and returns the exact string to encode. Every
// problem is reported (unknown fields too), with paths starting "content.";
// an unknown type is reported as "type". Whether the payload fits in a symbol
// depends on the error correction level: Encode reports that (ErrTooLong).
//
// Payload formats:
//
//	url    {"url"}                          the URL as given (absolute http/https, ≤ 2048 bytes)
//	text   {"text"}                         the text as given (not blank)
//	email  {"to","subject","body"}          mailto:to?subject=…&body=… (RFC 6068, %20 for spaces, CRLF line breaks in body)
//	phone  {"number"}                       tel:+15551234567 (spaces, dashes, dots, parentheses removed)
//	sms    {"number","message"}             SMSTO:+15551234567:message
//	wifi   {"ssid","password","security","hidden"}
//	                                        WIFI:T:WPA;S:…;P:…;H:true;; (T:nopass and no P for "none")
//	vcard  {"firstName","lastName","organization","title","phones","emails","website","address"}
//	                                        vCard 3.0, CRLF line ends, RFC 2426 text escaping
//
// A JSON null counts as an absent field.
func Payload(typ string, content json.RawMessage) (payload string, errs []FieldError) {
	p := &parser{}
	var fn func(*parser, *object) string
	switch typ {
	case "url":
		fn = urlPayload
	case "text":
		fn = textPayload
	case "email":
		fn = emailPayload
	case "phone":
		fn = phonePayload
	case "sms":
		fn = smsPayload
	case "wifi":
		fn = wifiPayload
	case "vcard":
		fn = vcardPayload
	default:
		return "", []FieldError{{"type", "must be one of " + strings.Join(Types, ", ")}}
	}
	o := p.object("content", content, fieldsOf[typ])
	if o == nil {
		return "", p.errs
	}
	s := fn(p, o)
	if len(p.errs) > 0 {
		return "", p.errs
	}
	return s, nil
}

var fieldsOf = map[string][]string{
	"url":   {"url"},
	"text":  {"text"},
	"email": {"to", "subject", "body"},
	"phone": {"number"},
	"sms":   {"number", "message"},
	"wifi":  {"ssid", "password", "security", "hidden"},
	"vcard": {"firstName", "lastName", "organization", "title", "phones", "emails", "website", "address"},
}

var addressFields = []string{"street", "city", "region", "postalCode", "country"}

// ContentFields returns the fields of a type's content (object ""), or of
// an object within it ("address", a vCard's); nil for anything else.
func ContentFields(typ, object string) []string {
	switch {
	case object == "":
		return fieldsOf[typ]
	case typ == "vcard" && object == "address":
		return addressFields
	}
	return nil
}

type parser struct{ errs []FieldError }

func (p *parser) fail(field, msg string) { p.errs = append(p.errs, FieldError{field, msg}) }

// object is a decoded JSON object whose keys have been checked.
type object struct {
	path string
	m    map[string]json.RawMessage
}

// object decodes raw as a JSON object and reports keys not in known. It
// returns nil (after reporting) if raw is not an object.
func (p *parser) object(path string, raw json.RawMessage, known []string) *object {
	t := bytes.TrimSpace(raw)
	var m map[string]json.RawMessage
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &m) != nil {
		p.fail(path, "must be a JSON object")
		return nil
	}
	var unknown []string
	for k := range m {
		if !contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.fail(path+"."+k, "unknown field")
	}
	return &object{path: path, m: m}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// str returns a string field; a missing, null or mistyped field gives "".
func (p *parser) str(o *object, name string) string {
	raw, ok := o.m[name]
	if !ok || isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		p.fail(o.path+"."+name, "must be a string")
		return ""
	}
	return s
}

func (p *parser) boolean(o *object, name string) bool {
	raw, ok := o.m[name]
	if !ok || isNull(raw) {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		p.fail(o.path+"."+name, "must be true or false")
		return false
	}
	return b
}

// strList decodes an array of strings and passes every element to check,
// in order, with its path ("content.phones[1]"); check returns the value to
// keep and an error message. Elements that are not strings or fail the check
// are reported and left out.
func (p *parser) strList(o *object, name string, maxN int, check func(string) (string, string)) []string {
	raw, ok := o.m[name]
	if !ok || isNull(raw) {
		return nil
	}
	path := o.path + "." + name
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		p.fail(path, "must be an array of strings")
		return nil
	}
	if len(items) > maxN {
		p.fail(path, "must have at most "+strconv.Itoa(maxN)+" entries")
		return nil
	}
	var vals []string
	for i, it := range items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		var s string
		if json.Unmarshal(it, &s) != nil {
			p.fail(ip, "must be a string")
			continue
		}
		v, msg := check(s)
		if msg != "" {
			p.fail(ip, msg)
			continue
		}
		vals = append(vals, v)
	}
	return vals
}

// --- text checks ---

// hasControl reports control characters (C0, DEL and C1) and the line
// and paragraph separators U+2028 and U+2029, which readers take for line
// breaks; multiline allows those, CR, LF and TAB.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			if multiline && (r == '\n' || r == '\r' || r == '\t' || r == 0x2028 || r == 0x2029) {
				continue
			}
			return true
		}
	}
	return false
}

const (
	msgRequired  = "is required"
	msgControl   = "must not contain line breaks or control characters"
	msgControlML = "must not contain control characters other than line breaks and tabs"
)

// line checks an optional single-line field; it returns false after reporting.
func (p *parser) line(path, s string, maxLen int) bool {
	switch {
	case len(s) > maxLen:
		p.fail(path, "must be at most "+strconv.Itoa(maxLen)+" bytes")
	case hasControl(s, false):
		p.fail(path, msgControl)
	default:
		return true
	}
	return false
}

func (p *parser) multiline(path, s string, maxLen int) bool {
	switch {
	case len(s) > maxLen:
		p.fail(path, "must be at most "+strconv.Itoa(maxLen)+" bytes")
	case hasControl(s, true):
		p.fail(path, msgControlML)
	default:
		return true
	}
	return false
}

// checkURL validates an absolute http(s) URL without spaces or controls,
// whose host is a name, an IPv4 address or an IPv6 address in brackets,
// and whose port, if any, is at most 65535.
func checkURL(s string) string {
	if len(s) > MaxURLLen {
		return "must be at most " + strconv.Itoa(MaxURLLen) + " bytes"
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError || unicode.IsSpace(r) || snapglyph.Hidden(r) {
			return "must not contain spaces, control characters or invisible characters (such as U+200B or U+202E)"
		}
	}
	u, err := url.Parse(s)
	if err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "" || u.Opaque != "" {
		return "must be an absolute http or https URL"
	}
	if u.Hostname() == "" {
		return "must be an absolute http or https URL"
	}
	return checkURLAuthority(s)
}

// checkURLAuthority checks the host and port of s, an http(s) URL that
// url.Parse accepted: the host is a registered name, an IPv4 address or an
// IPv6 address in brackets without a zone (RFC 3986), and the port, if
// any, is a number a browser opens (WHATWG URL). url.Parse alone lets <,
// >, " and ] into a name ("http://>"), a zone into an IPv6 address and any
// digits into a port: the API document refuses those, and a QR code
// stored with one would be returned in a body that fails the document's
// own schema.
func checkURLAuthority(s string) string {
	const (
		msgHost = "must have a valid host such as example.com, 192.0.2.1 or [2001:db8::1]"
		msgPort = "must have a port from 0 to 65535"
	)
	_, authority, _ := strings.Cut(s, "://")
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	// As in url.Parse, the last "@" ends the userinfo.
	hostport := authority[strings.LastIndexByte(authority, '@')+1:]
	var port string
	if rest, ok := strings.CutPrefix(hostport, "["); ok {
		addr, after, closed := strings.Cut(rest, "]")
		// A zone ("%25eth0") names an interface of the device that
		// scans the code, which the code's author cannot know.
		ip, err := netip.ParseAddr(addr)
		if !closed || err != nil || !ip.Is6() || ip.Zone() != "" {
			return msgHost
		}
		port = after
	} else {
		i := strings.IndexByte(hostport, ':')
		if i < 0 {
			i = len(hostport)
		}
		if !validRegName(hostport[:i]) || !validNumericHost(hostport[:i]) {
			return msgHost
		}
		port = hostport[i:]
	}
	digits, ok := strings.CutPrefix(port, ":")
	switch {
	case port == "" || port == ":":
		return "" // a browser reads "http://a:/" as no port
	case !ok:
		return msgHost // url.Parse has checked this; it keeps the rule whole here
	case len(digits) > 5 || strings.Trim(digits, "0123456789") != "":
		// A browser opens ":000080" as port 80; five digits at most keep
		// the rule, and the document's pattern, short.
		return msgPort
	}
	// A browser refuses a port above 65535: the code could not be opened.
	if n, _ := strconv.Atoi(digits); n > 65535 {
		return msgPort
	}
	return ""
}

// validNumericHost reports whether host, a registered name, is not a
// number a browser would misread. When its last label (a trailing dot
// aside) is all digits or "0x" and hex digits, a browser (WHATWG URL)
// reads the whole host as an IPv4 address: it refuses "256.0.0.1" and
// "1.2.3.4.5", and opens "1.2.3" as 1.2.0.3, "01.2.3.4" (octal) as
// 1.2.3.4 and "0x7f" as 0.0.0.127, none of which is what the code shows.
// Such a host must be four decimal numbers from 0 to 255 without leading
// zeros, which every reader takes for the same address. "1.2.3.example"
// and "123abc" are names.
func validNumericHost(host string) bool {
	name := strings.TrimSuffix(host, ".")
	last := name[strings.LastIndexByte(name, '.')+1:]
	decimal := last != "" && strings.Trim(last, "0123456789") == ""
	hex := len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') && isHex(last[2:])
	if !decimal && !hex {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.Is4()
}

// validRegName reports whether host is a name of RFC 3986's unreserved
// characters and sub-delims, non-ASCII characters (an international name
// as typed) and escapes. An escape must be of a non-ASCII byte or "%25",
// as url.Parse decodes hosts: an escaped ASCII letter ("ex%41mple.com") is
// refused. An IPv4 address is such a name.
func validRegName(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=", c) >= 0:
		case c == '%' && i+2 < len(host) && isHex(host[i+1:i+3]) && (host[i+1] >= '8' || host[i+1:i+3] == "25"):
			i += 2
		default:
			return false
		}
	}
	return host != ""
}

// checkEmail accepts a bare addr-spec ("user@example.com") as net/mail parses it.
func checkEmail(s string) string {
	if len(s) > MaxEmailLen {
		return "must be at most " + strconv.Itoa(MaxEmailLen) + " bytes"
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "must be a valid e-mail address such as name@example.com"
	}
	return ""
}

// normalizePhone keeps the digits (and a leading "+") of a phone number
// written with spaces, dashes, dots or parentheses.
func normalizePhone(s string) (string, string) {
	var b strings.Builder
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
			digits++
		case c == '+' && b.Len() == 0 && strings.TrimLeft(s[:i], " ") == "":
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", `must contain only digits, a leading "+", spaces, dashes, dots and parentheses`
		}
	}
	if digits < minDigits || digits > maxDigits {
		return "", "must have " + strconv.Itoa(minDigits) + " to " + strconv.Itoa(maxDigits) + " digits"
	}
	return b.String(), ""
}

// --- types ---

func urlPayload(p *parser, o *object) string {
	s := p.str(o, "url")
	path := o.path + ".url"
	if !p.required(path, s) {
		return ""
	}
	if msg := checkURL(s); msg != "" {
		p.fail(path, msg)
	}
	return s
}

func textPayload(p *parser, o *object) string {
	s := p.str(o, "text")
	path := o.path + ".text"
	if !p.required(path, s) {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		p.fail(path, "must not be blank (only white space)")
		return ""
	}
	p.multiline(path, s, MaxTextLen)
	return s
}

// reported tells whether path already has an error (e.g. a type error).
func (p *parser) reported(path string) bool {
	for _, e := range p.errs {
		if e.Field == path {
			return true
		}
	}
	return false
}

// required reports a missing value unless the field was already reported.
func (p *parser) required(path, s string) bool {
	if s == "" {
		if !p.reported(path) {
			p.fail(path, msgRequired)
		}
		return false
	}
	return true
}

func emailPayload(p *parser, o *object) string {
	to, subject, body := p.str(o, "to"), p.str(o, "subject"), p.str(o, "body")
	if p.required(o.path+".to", to) {
		if msg := checkEmail(to); msg != "" {
			p.fail(o.path+".to", msg)
		}
	}
	p.line(o.path+".subject", subject, MaxTextLen)
	p.multiline(o.path+".body", body, MaxTextLen)

	var b strings.Builder
	b.WriteString("mailto:")
	pctEncode(&b, to, "@")
	sep := byte('?')
	if subject != "" {
		b.WriteByte(sep)
		b.WriteString("subject=")
		pctEncode(&b, subject, "")
		sep = '&'
	}
	if body != "" {
		b.WriteByte(sep)
		b.WriteString("body=")
		pctEncode(&b, crlf(body), "")
	}
	return b.String()
}

// crlf turns every line break (CRLF, CR or LF) into CRLF, as RFC 6068
// requires for the body.
func crlf(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// PercentEncode returns s with every byte percent-encoded except RFC 3986
// unreserved characters and those in keep (see pctEncode).
func PercentEncode(s, keep string) string {
	var b strings.Builder
	pctEncode(&b, s, keep)
	return b.String()
}

// pctEncode writes s percent-encoding every byte except RFC 3986 unreserved
// characters and those in keep. Encoding more than RFC 6068 strictly
// requires is always allowed and avoids "+" being read as a space.
func pctEncode(b *strings.Builder, s, keep string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

func phonePayload(p *parser, o *object) string {
	n := p.phone(o, "number")
	return "tel:" + n
}

func (p *parser) phone(o *object, name string) string {
	path := o.path + "." + name
	s := p.str(o, name)
	if !p.required(path, s) {
		return ""
	}
	n, msg := normalizePhone(s)
	if msg != "" {
		p.fail(path, msg)
	}
	return n
}

func smsPayload(p *parser, o *object) string {
	n := p.phone(o, "number")
	msg := p.str(o, "message")
	p.multiline(o.path+".message", msg, MaxTextLen)
	// SMSTO:number:message — everything after the second colon is the
	// message, so it needs no escaping.
	return "SMSTO:" + n + ":" + msg
}

func wifiPayload(p *parser, o *object) string {
	ssid, pass, sec := p.str(o, "ssid"), p.str(o, "password"), p.str(o, "security")
	if sec == "" && !p.reported(o.path+".security") {
		sec = "WPA" // the documented default: most networks are WPA
	}
	hidden := p.boolean(o, "hidden")
	if p.required(o.path+".ssid", ssid) {
		p.line(o.path+".ssid", ssid, MaxSSIDLen)
	}
	ppath := o.path + ".password"
	switch sec {
	case "WPA":
		if p.required(ppath, pass) && !validWPA(pass) {
			p.fail(ppath, "a WPA passphrase must be 8 to 63 printable ASCII characters (or 64 hex digits)")
		}
	case "WEP":
		if p.required(ppath, pass) && !validWEP(pass) {
			p.fail(ppath, "a WEP key must be 5 or 13 ASCII characters, or 10 or 26 hex digits")
		}
	case "none":
		if pass != "" {
			p.fail(ppath, `must be empty when security is "none"`)
		}
	default:
		if !p.reported(o.path + ".security") {
			p.fail(o.path+".security", `must be "WPA", "WEP" or "none"`)
		}
	}
	var b strings.Builder
	b.WriteString("WIFI:T:")
	if sec == "none" {
		b.WriteString("nopass")
	} else {
		b.WriteString(sec)
	}
	b.WriteString(";S:")
	b.WriteString(wifiEscape(ssid))
	b.WriteByte(';')
	if sec != "none" {
		b.WriteString("P:")
		b.WriteString(wifiEscape(pass))
		b.WriteByte(';')
	}
	if hidden {
		b.WriteString("H:true;")
	}
	b.WriteByte(';')
	return b.String()
}

var wifiEscaper = strings.NewReplacer(`\`, `\\`, `;`, `\;`, `,`, `\,`, `:`, `\:`, `"`, `\"`)

func wifiEscape(s string) string { return wifiEscaper.Replace(s) }

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := hexVal(s[i]); !ok {
			return false
		}
	}
	return true
}

func validWPA(s string) bool {
	return (len(s) >= 8 && len(s) <= 63 && printableASCII(s)) || (len(s) == 64 && isHex(s))
}

func validWEP(s string) bool {
	switch len(s) {
	case 5, 13:
		return printableASCII(s)
	case 10, 26:
		return isHex(s)
	}
	return false
}

func vcardPayload(p *parser, o *object) string {
	first, last := p.str(o, "firstName"), p.str(o, "lastName")
	org, title := p.str(o, "organization"), p.str(o, "title")
	website := p.str(o, "website")
	for _, f := range []struct{ name, v string }{{"firstName", first}, {"lastName", last}, {"organization", org}, {"title", title}} {
		p.line(o.path+"."+f.name, f.v, MaxFieldLen)
	}
	if strings.TrimSpace(first) == "" && strings.TrimSpace(last) == "" && strings.TrimSpace(org) == "" &&
		!p.reported(o.path+".firstName") && !p.reported(o.path+".lastName") && !p.reported(o.path+".organization") {
		p.fail(o.path+".firstName", "at least one of firstName, lastName or organization is required")
	}
	if website != "" {
		if msg := checkURL(website); msg != "" {
			p.fail(o.path+".website", msg)
		}
	}
	phones := p.strList(o, "phones", MaxVCardN, normalizePhone)
	emails := p.strList(o, "emails", MaxVCardN, func(e string) (string, string) { return e, checkEmail(e) })
	var adr [5]string
	hasAdr := false
	if raw, ok := o.m["address"]; ok && !isNull(raw) {
		if ao := p.object(o.path+".address", raw, addressFields); ao != nil {
			for i, name := range addressFields {
				adr[i] = p.str(ao, name)
				if name == "street" {
					p.multiline(ao.path+"."+name, adr[i], MaxFieldLen)
				} else {
					p.line(ao.path+"."+name, adr[i], MaxFieldLen)
				}
				hasAdr = hasAdr || adr[i] != ""
			}
		}
	}

	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\nVERSION:3.0\r\nN:")
	b.WriteString(vcEscape(last))
	b.WriteByte(';')
	b.WriteString(vcEscape(first))
	b.WriteString(";;;\r\nFN:")
	fn := strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
	if fn == "" {
		fn = strings.TrimSpace(org)
	}
	b.WriteString(vcEscape(fn))
	b.WriteString("\r\n")
	if org != "" {
		b.WriteString("ORG:" + vcEscape(org) + "\r\n")
	}
	if title != "" {
		b.WriteString("TITLE:" + vcEscape(title) + "\r\n")
	}
	for _, ph := range phones {
		b.WriteString("TEL:" + ph + "\r\n")
	}
	for _, e := range emails {
		b.WriteString("EMAIL:" + vcEscape(e) + "\r\n")
	}
	if website != "" {
		// A URI value: RFC 2426 escaping applies to text values only.
		b.WriteString("URL:" + website + "\r\n")
	}
	if hasAdr {
		// ADR: post office box; extended address; street; locality; region; postal code; country
		b.WriteString("ADR:;;")
		for i, v := range adr {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(vcEscape(v))
		}
		b.WriteString("\r\n")
	}
	b.WriteString("END:VCARD")
	return b.String()
}

// vcEscape escapes a vCard 3.0 text value (RFC 2426 section 4): backslash,
// comma and semicolon get a backslash, line breaks become "\n".
func vcEscape(s string) string {
	if !strings.ContainsAny(s, "\\,;\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', ',', ';':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
