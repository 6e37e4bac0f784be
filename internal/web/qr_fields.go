// The fields of each QR-code type, as the create and edit form shows them.
//
// The form holds every type's fields. CSS (:has) shows only the chosen
// type's, and app.js also disables the others; with neither, all are
// shown under their type's heading, and only the chosen type's are read.

package web

import "strings"

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
