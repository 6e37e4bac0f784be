package server

import (
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// problemDoc explains one problem code: what happened and what to do. Every
// problem's type URI is the page of its code, served at /problems/{code}
// as HTML for people and as JSON for programs.
type problemDoc struct {
	Code   string `json:"code"`
	Status int    `json:"status"`
	Title  string `json:"title"`
	Means  string `json:"description"`
	Fix    string `json:"fix"`
}

// problemDocs lists every code the API can answer with: the codes of the
// Problem schema's enum, no more and no fewer (a test holds them together).
var problemDocs = []problemDoc{
	{"missing_api_key", 401, "No API key was sent",
		"The request has no Authorization header. Keys sent in another header (such as X-API-Key) or in the URL are not accepted: URLs end up in logs, browser histories and proxies.",
		"Send the key as `Authorization: Bearer qr_live_…`."},
	{"malformed_authorization", 401, "The Authorization header is not `Bearer <key>`",
		"The header is there, but not in the form `Bearer qr_live_…`: the word Bearer is missing, there are two spaces or a trailing space, the key is in quotes, or a line break was copied with it.",
		"Send exactly `Authorization: Bearer ` followed by the key, with one space and nothing else. Check the variable the key is read from for quotes and whitespace."},
	{"malformed_api_key", 401, "That is not a SnapGlyph API key",
		"The value after Bearer does not have the form of a key: wrong prefix, wrong length, characters outside A–Z, a–z and 0–9, or a failed checksum (a typo, or a key cut short when it was copied). No database was asked.",
		"Copy the whole key again from where you stored it when it was created (it starts with `qr_live_` and has 40 characters). A lost key cannot be shown again: create a new one in API Settings."},
	{"invalid_api_key", 401, "Unknown API key",
		"The key has the right form but belongs to no organisation: it was never issued here, or it belongs to another SnapGlyph deployment.",
		"Check that the client calls the right server with the right key; if the key is lost, create a new one in API Settings."},
	{"api_key_paused", 401, "The API key is paused",
		"An Owner or Admin of the organisation paused this key. Paused keys are refused until they are resumed.",
		"Ask an Owner or Admin to re-enable the key in API Settings, or use another active key."},
	{"api_key_revoked", 401, "The API key was revoked",
		"The key was revoked by an Owner or Admin. Revocation is permanent.",
		"Create a new key in API Settings and update the applications that used this one."},
	{"api_key_expired", 401, "The API key has expired",
		"The key had an expiry date and it has passed, or the key was rolled (replaced by a new key) and the overlap during which the old key kept working has ended; the detail names the new key's prefix. An expired key cannot be resumed. Expiry is checked against the clock on every request, on every server at once.",
		"Send the key that replaced it, or ask an Owner or Admin to roll the key (a new key with the same name, permissions and allowlist) or create a new one in API Settings."},
	{"api_not_in_plan", 403, "The plan has no API access",
		"The organisation is on the Starter plan, or its trial has ended. API access comes with the Pro and Max plans.",
		"The Owner can upgrade the organisation on the Subscription page."},
	{"ip_not_allowed", 403, "The request came from an address the key may not be used from",
		"The key has an IP allowlist and the address the request came from (shown in the detail, as the server saw it after any trusted proxy) is not on it. No call was counted.",
		"Send the request from an allowed address, or ask an Owner or Admin to add this address or its range to the key's allowlist (in API Settings or `snapglyph key restrict`). Behind a proxy, the address is the one the proxy names, if it is among the server's trusted proxies."},
	{"insufficient_scope", 403, "The key lacks the permission this operation needs",
		"The key is restricted to some permissions (`qr_codes:read`, `qr_codes:write`, `images:read`, `usage:read`) and the operation needs another one, named in the detail and in `WWW-Authenticate: Bearer error=\"insufficient_scope\", scope=\"…\"`. Each operation's permission is in the OpenAPI document (`x-snapglyph-scope`). No call was counted.",
		"Use a key that has the permission, or ask an Owner or Admin to give this key the permission (its restrictions, in API Settings or `snapglyph key restrict`)."},
	{"api_call_limit_reached", 429, "This month's API calls are spent",
		"Every authenticated request counts as one API call, and the organisation has used all the calls of its plan for this month. The allowance renews at 00:00 UTC on the 1st.",
		"Wait until the time given in Retry-After (seconds) or X-RateLimit-Reset (Unix time), or upgrade the plan. GET /api/v1/usage shows what is left."},
	{"image_credit_limit_reached", 429, "This month's image credits are spent",
		"Images cost image credits on top of the API call (SVG 1, PNG 10), and the organisation has used all of this month's. No credit is charged for an image that is not sent.",
		"Wait for the next month (Retry-After), fetch SVG instead of PNG where you can, or upgrade the plan."},
	{"authentication_throttled", 429, "Too many failed authentications",
		"This client address sent many requests with keys that were missing, malformed, unknown, paused or revoked, and further attempts are refused for a while without being checked. Requests with a valid key are not affected by other addresses' failures.",
		"Fix the key the client sends (see the earlier answers' codes), then retry after Retry-After seconds."},
	{"invalid_request", 400, "The request has invalid fields",
		"One or more fields (of the body, the query string or the path) are missing or invalid. The `errors` array names each one by its JSON path, with what is wrong.",
		"Correct the fields listed in `errors` and send the request again."},
	{"invalid_json", 400, "The body is not valid JSON",
		"The body could not be parsed as one JSON object: a syntax error, or data after the object.",
		"Send one JSON object with Content-Type: application/json; the detail gives the byte offset of the error."},
	{"not_found", 404, "Not found",
		"There is no such endpoint, or no QR code with that id in the key's organisation (codes of other organisations are never visible).",
		"Check the path against /api/v1/openapi.json and the id against GET /api/v1/qr-codes."},
	{"method_not_allowed", 405, "Method not allowed",
		"The endpoint exists, but not with this HTTP method. The Allow header lists the methods it takes.",
		"Use one of the methods in the Allow header."},
	{"uri_too_long", 414, "The URL is too long",
		"The path and query string together are longer than the API accepts. Nothing was done and nothing was counted.",
		"Send long data in the body of a POST or PATCH, not in the URL."},
	{"request_too_large", 413, "The body is too large",
		"The request body is larger than the API accepts.",
		"Send a smaller body; logos are limited to 256 KiB."},
	{"unsupported_media_type", 415, "The body must be JSON",
		"The Content-Type of the request is not application/json.",
		"Send the body as JSON with `Content-Type: application/json`."},
	{"content_too_long", 422, "The content does not fit in a QR code",
		"A QR code holds a limited number of bytes, fewer at higher error-correction levels.",
		"Shorten the content, or choose a lower error-correction level (L holds the most)."},
	{"logo_requires_png", 422, "A QR code with a logo is PNG only",
		"The QR code has a logo, and logos are drawn only in PNG images. No image credit was charged.",
		"Request the image with `format=png`, or remove the logo (`\"design\": {\"logo\": null}`)."},
	{"idempotency_key_reused", 422, "The Idempotency-Key was used for another request",
		"A create with this Idempotency-Key was made in the last 24 hours with a different body. A key names one request: retries must send the same body.",
		"Use a new Idempotency-Key (for example a UUID) for each new QR code, and the same one only to retry the same request."},
	{"qr_code_limit_reached", 403, "The plan's QR codes are used",
		"The Starter plan (and an ended trial) holds 5 QR codes, and the organisation has them.",
		"Delete a QR code, or ask the Owner to upgrade to Pro."},
	{"qr_code_changed", 409, "The QR code changed while its image was drawn",
		"The code's logo was replaced between reading the code and drawing it, so the image would not have matched the code, and no credit was charged; or a change (PATCH, DELETE) found the code changed by other requests between reading and writing it, again and again, and changed nothing.",
		"Ask for the image again."},
	{"precondition_failed", 412, "The QR code is not at the version the request names",
		"The request's If-Match lists ETags of which none is the code's current one (another request changed it since the client read it), or is not a list of quoted ETags; or its If-None-Match lists the current ETag. The check and the write are one step: nothing was changed.",
		"GET the code again, look at what changed, and send the change with the new ETag in If-Match (or If-Match: * to change it whatever its state)."},
	{"cors_not_allowed", 403, "The API is not for web pages",
		"A browser asked whether a web page may call the API (a CORS preflight). It may not: an API key in a web page is visible to everyone who opens it.",
		"Call the API from your server, where the key stays secret, and give your page what it needs from there."},
	{"render_busy", 503, "Too many images are being drawn",
		"This server is drawing as many images as it can at once; the request waited and found no room. No credit was charged.",
		"Retry after the Retry-After seconds. Repeated requests for the same image are served from a cache and rarely wait."},
	{"signature_invalid", 403, "The leak report's signature is not GitHub's",
		"POST /secret-scanning/github takes reports from GitHub's secret scanning partner program only: the body must be signed by one of GitHub's published secret-scanning keys (GITHUB-PUBLIC-KEY-IDENTIFIER and GITHUB-PUBLIC-KEY-SIGNATURE). This report was unsigned, signed with an unknown key, or its body does not match the signature. Nothing was done.",
		"Nothing, if you are GitHub: the keys are read again when an unknown identifier arrives. Operators: check --secret-scanning-keys."},
	{"leak_report_replayed", 409, "This leak report was received before",
		"A report is acted on once. The same signed report sent again (a replay) is refused and changes nothing, so a key an Owner resumed after checking it is not paused again by an old report.",
		"Nothing to do: the first report was acted on."},
	{"service_unavailable", 503, "Try again in a few seconds",
		"The service cannot reach its database right now. A create whose answer was lost may have been stored.",
		"Retry after Retry-After seconds. Send an Idempotency-Key with creates so a retry never makes a duplicate."},
	{"client_closed_request", 499, "The client stopped waiting",
		"The client closed the connection (its own time-out, or it was stopped) before the answer was ready, so none was sent. This code appears only in the request log and the metrics; the request cost nothing. A create may have been stored all the same.",
		"Give the client a longer time-out, and send an Idempotency-Key with creates so a retry never makes a duplicate."},
	{"internal_error", 500, "Internal error",
		"Something failed that should not have. It is logged with the request id.",
		"Retry later; if it persists, give the operator the requestId of the problem."},
}

func problemDocOf(code string) (problemDoc, bool) {
	i := slices.IndexFunc(problemDocs, func(d problemDoc) bool { return d.Code == code })
	if i < 0 {
		return problemDoc{}, false
	}
	return problemDocs[i], true
}

var problemPage = template.Must(template.New("problem").Funcs(template.FuncMap{"code": codeSpans}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .One}}{{.One.Code}} — {{end}}SnapGlyph API problems</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1f2328}code{background:#f0f2f5;padding:0 .25em;border-radius:3px}h2{margin-top:2rem}a{color:#0b57d0}</style>
</head><body>
{{if .One}}{{with .One}}<p><a href="/problems/">All problem codes</a></p>
<h1><code>{{.Code}}</code></h1><p><strong>HTTP {{.Status}}: {{.Title}}</strong></p>
<h2>What happened</h2><p>{{code .Means}}</p><h2>What to do</h2><p>{{code .Fix}}</p>{{end}}
{{else}}<h1>SnapGlyph API problems</h1>
<p>Every error of the API is a problem document (RFC 9457) whose <code>type</code> is the address of one of these pages and whose <code>code</code> is its name.</p>
<ul>{{range .All}}<li><a href="/problems/{{.Code}}"><code>{{.Code}}</code></a> ({{.Status}}): {{.Title}}</li>{{end}}</ul>{{end}}
</body></html>
`))

// codeSpans renders `backquoted` parts of a text as code.
func codeSpans(s string) template.HTML {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return template.HTML(b.String())
}

// handleProblems serves /problems/ and /problems/{code}: HTML unless the
// client asks for JSON.
func (s *Server) handleProblems(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	var one *problemDoc
	if code != "" {
		d, ok := problemDocOf(code)
		if !ok {
			if wantsJSON(r) {
				s.writeError(w, r, snapglyph.Codef(snapglyph.ENOTFOUND, "not_found", "there is no problem code %q; /problems/ lists them", snapglyph.Head(code, 64)))
				return
			}
			http.Error(w, "no such problem code; see /problems/", http.StatusNotFound)
			return
		}
		one = &d
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Vary", "Accept")
	if wantsJSON(r) {
		if one != nil {
			encode(w, http.StatusOK, one)
		} else {
			encode(w, http.StatusOK, problemDocs)
		}
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	problemPage.Execute(w, struct {
		One *problemDoc
		All []problemDoc
	}{one, problemDocs})
}

// wantsJSON reports whether the Accept header prefers JSON to HTML.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "json") && !strings.Contains(a, "text/html")
}
