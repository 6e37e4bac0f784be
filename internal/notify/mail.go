package notify

import (
	"bytes"
	"html/template"
	"strings"
)

// mailPage is what a mail's two parts are drawn from.
type mailPage struct {
	Title    string
	Body     string
	URL      string // absolute: the place in the dashboard
	Button   string // the link's words
	Footer   string
	PrefsURL string // absolute, "" when the mail has no preferences (an invitation)
}

var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Title}}</title></head>
<body style="margin:0;padding:24px;background:#f5f6fa;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2333;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" width="560" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:8px;border:1px solid #e2e4ee;">
<tr><td style="padding:24px 28px;">
<p style="margin:0 0 16px;font-weight:600;color:#4b3fd1;">SnapGlyph</p>
<h1 style="margin:0 0 12px;font-size:20px;line-height:1.3;">{{.Title}}</h1>
<p style="margin:0 0 20px;font-size:15px;line-height:1.5;">{{.Body}}</p>
<p style="margin:0 0 8px;"><a href="{{.URL}}" style="display:inline-block;padding:10px 16px;background:#4b3fd1;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;">{{.Button}}</a></p>
<p style="margin:0;font-size:12px;color:#6b6f80;word-break:break-all;">{{.URL}}</p>
</td></tr>
<tr><td style="padding:16px 28px;border-top:1px solid #e2e4ee;font-size:12px;line-height:1.5;color:#6b6f80;">{{.Footer}}{{if .PrefsURL}} <a href="{{.PrefsURL}}" style="color:#4b3fd1;">Choose which notices come by mail</a>.{{end}}</td></tr>
</table>
</td></tr></table>
</body>
</html>
`))

// render draws the mail's plain-text and HTML parts.
func (p *mailPage) render() (text, html string, err error) {
	var t strings.Builder
	t.WriteString(p.Title + "\n\n" + p.Body + "\n\n" + p.Button + ": " + p.URL + "\n\n-- \n" + p.Footer)
	if p.PrefsURL != "" {
		t.WriteString("\nChoose which notices come by mail: " + p.PrefsURL)
	}
	t.WriteString("\n")
	var h bytes.Buffer
	if err := mailHTML.Execute(&h, p); err != nil {
		return "", "", err
	}
	return t.String(), h.String(), nil
}
