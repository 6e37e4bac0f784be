package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// MaxBodyBytes bounds a request body: a 256 KiB logo in base64 and the rest.
const MaxBodyBytes = 512 << 10

// Image costs in credits (DESIGN §5).
const (
	svgCredits = 1
	pngCredits = 10
)

type logoJSON struct {
	ContentType string `json:"contentType"`
	Bytes       int    `json:"bytes"`
}

type designJSON struct {
	Foreground      string    `json:"foreground"`
	Background      string    `json:"background"`
	ErrorCorrection string    `json:"errorCorrection"`
	Margin          int       `json:"margin"`
	Logo            *logoJSON `json:"logo"`
}

type qrJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Content   json.RawMessage   `json:"content"`
	Payload   string            `json:"payload"`
	Design    designJSON        `json:"design"`
	CreatedBy snapglyph.Creator `json:"createdBy"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
	Links     struct {
		Self string `json:"self"`
		SVG  string `json:"svg,omitempty"`
		PNG  string `json:"png"`
	} `json:"links"`
}

func toQRJSON(q *snapglyph.QRCode) qrJSON {
	out := qrJSON{ID: q.ID, Name: q.Name, Type: q.Type, Content: q.Content, Payload: q.Payload,
		CreatedBy: q.CreatedBy, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
	out.Design = designJSON{Foreground: q.Design.Foreground, Background: q.Design.Background,
		ErrorCorrection: q.Design.ErrorCorrection, Margin: q.Design.Margin}
	if q.LogoType != "" {
		n := len(q.Logo) // a code just made is not read back from the store
		if n == 0 {
			n = q.LogoBytes // a code read without its logo, as in lists
		}
		out.Design.Logo = &logoJSON{ContentType: q.LogoType, Bytes: n}
	}
	self := "/api/v1/qr-codes/" + q.ID
	out.Links.Self, out.Links.PNG = self, self+"?format=png"
	if q.LogoType == "" {
		out.Links.SVG = self + "?format=svg"
	}
	return out
}

// qrRequest is the body of POST and PATCH. Content and design stay raw:
// the service validates them field by field.
type qrRequest struct {
	Name    *string         `json:"name"`
	Type    *string         `json:"type"`
	Content json.RawMessage `json:"content"`
	Design  json.RawMessage `json:"design"`
}

func (q qrRequest) input() service.QRInput {
	in := service.QRInput{Name: q.Name, Type: q.Type, Content: q.Content, Design: q.Design}
	if string(in.Content) == "null" {
		in.Content = nil
	}
	if string(in.Design) == "null" {
		in.Design = nil
	}
	return in
}

// decodeBody reads a JSON object into v: 415 for another content type,
// 413 past MaxBodyBytes, 400 for malformed JSON, unknown fields or
// trailing data.
// It returns the body as read, for the idempotency check.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	if ct := r.Header.Values("Content-Type"); len(ct) > 1 {
		// Which one would be read depends on the reader: one is sent.
		return nil, snapglyph.Codef(snapglyph.EUNSUPPORTED, "unsupported_media_type",
			"send exactly one Content-Type header (application/json); this request has %d", len(ct))
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, snapglyph.Codef(snapglyph.EUNSUPPORTED, "unsupported_media_type",
			"send the body as JSON with Content-Type: application/json (got %q)", snapglyph.Shorten(r.Header.Get("Content-Type"), 60))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		// JSON is UTF-8: a body in another charset would be refused as
		// not UTF-8, which would not say why.
		return nil, snapglyph.Codef(snapglyph.EUNSUPPORTED, "unsupported_media_type",
			"send the body in UTF-8 (charset=utf-8 or no charset): charset %q is not accepted", snapglyph.Shorten(cs, 40))
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(ce[0], "identity")) {
		// Read as it is, a compressed body would be refused as not UTF-8
		// or not JSON, which would not say why.
		return nil, snapglyph.Codef(snapglyph.EUNSUPPORTED, "unsupported_media_type",
			"send the body uncompressed: Content-Encoding %q is not accepted", snapglyph.Shorten(strings.Join(ce, ", "), 60))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, snapglyph.Codef(snapglyph.ETOOLARGE, "request_too_large", "the body is larger than %d KiB", MaxBodyBytes>>10)
	} else if err != nil {
		return nil, snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body could not be read: %v", err)
	}
	if !utf8.Valid(body) {
		// JSON is UTF-8 (RFC 8259). Decoding would turn bad bytes into
		// U+FFFD in names but keep them in the raw content and design.
		return nil, snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body is not valid UTF-8 (at byte %d); send JSON encoded as UTF-8", invalidUTF8At(body))
	}
	if i := loneSurrogateAt(body); i >= 0 {
		// Decoding would read it as U+FFFD in names, but the raw content
		// and design keep the escape, which strict JSON readers refuse.
		return nil, snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body has a \\u escape of half a UTF-16 surrogate pair without its other half (at byte %d); JSON text must be valid Unicode", i)
	}
	return body, decodeJSON(body, v)
}

// readBody reads the request's JSON object into v (decodeBody) and, once
// it is in or its reading failed, checks the key again (recheck). The key
// comes first: a request whose key was revoked or paused while its body
// was being sent is answered as recheck answers it (401 api_key_revoked,
// refunded) whatever the body holds, as it would be had the body been
// good; only a key that still passes gets the body's 400, 413 or 415,
// which counts as a call. It answers the request itself and returns false
// when either refuses it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, p *principal, v any) ([]byte, bool) {
	body, err := decodeBody(w, r, v)
	if !s.recheck(w, r, p) {
		return nil, false
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return body, true
}

// loneSurrogateAt returns the offset of the first \u escape in b of a
// UTF-16 surrogate that is not half of a pair (\ud83d alone, \udc00
// first), or -1. A backslash only ever appears inside JSON strings, so b
// is read escape by escape, not as JSON.
func loneSurrogateAt(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return -1
		}
		i += j
		if i+1 >= len(b) || b[i+1] != 'u' {
			i += 2 // another escape, or the end
			continue
		}
		r, ok := escapedRune(b[i:])
		switch {
		case !ok || !utf16.IsSurrogate(r):
			i += 2
		case r >= 0xdc00:
			return i // a second half first
		default:
			r2, ok := escapedRune(b[min(i+6, len(b)):])
			if !ok || r2 < 0xdc00 || r2 > 0xdfff {
				return i
			}
			i += 12
		}
	}
}

// escapedRune reads a \uXXXX escape at the start of b.
func escapedRune(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// decodeJSON decodes one JSON object, refusing unknown fields, field
// names in another case, duplicate keys and trailing data, with errors
// that name the field.
func decodeJSON(body []byte, v any) error {
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body begins with a byte-order mark (EF BB BF), which JSON does not allow (RFC 8259): send the JSON without it")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] != '{' {
		// null, an array, a string: decoding would leave v as it is and
		// a PATCH would answer 200 having changed nothing.
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body must be a JSON object ({…})")
	}
	// encoding/json would take "NAME" for "name" and the last of two
	// equal keys: the keys are checked first, exactly (checkJSONKeys).
	if err := checkJSONKeys(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	case errors.As(err, &typeErr):
		return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has invalid fields: " + typeErr.Field,
			Fields: []snapglyph.FieldError{{Field: typeErr.Field, Message: "has the wrong type: expected " + typeErr.Type.String()}}}
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has an unknown field: " + f,
			Fields: []snapglyph.FieldError{{Field: f, Message: "is not a known field"}}}
	case errors.Is(err, io.EOF):
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body ends inside its JSON object: send the whole object")
	case err != nil:
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body is not a valid JSON object: %v", err)
	}
	// More() is false before a stray '}' or ']': only the end of the
	// input may follow the object.
	if _, err := dec.Token(); err != io.EOF {
		return snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the body has data after the JSON object")
	}
	return nil
}

func creatorOf(p *principal) snapglyph.Creator {
	return snapglyph.Creator{Type: snapglyph.CreatorAPIKey, ID: p.key.ID, Name: p.key.Name, Prefix: p.key.Prefix}
}

func (s *Server) handleQRCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req qrRequest
	body, ok := s.readBody(w, r, p, &req)
	if !ok {
		return
	}
	var idem *snapglyph.Idempotency
	if keys := r.Header.Values("Idempotency-Key"); len(keys) > 0 {
		key := keys[0]
		msg := ""
		switch {
		case len(keys) > 1:
			msg = "is given more than once; send one key"
		case key == "":
			msg = "is empty; send 1 to 255 ASCII characters without spaces (e.g. a UUID), or leave the header out"
		case len(key) > 255 || strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0:
			msg = "must be 1 to 255 ASCII characters without spaces or controls, e.g. a UUID"
		}
		if msg != "" {
			s.writeError(w, r, fieldError("Idempotency-Key", msg))
			return
		}
		sum := sha256.Sum256(body)
		idem = &snapglyph.Idempotency{Key: key, RequestHash: hex.EncodeToString(sum[:])}
	}
	var resp []byte
	if idem != nil {
		// The answer is made in the create's transaction and recorded
		// with the key: a retry gets it byte for byte.
		idem.Response = func(q *snapglyph.QRCode) []byte {
			resp, _ = json.Marshal(toQRJSON(q))
			return resp
		}
	}
	c, err := s.svc.CreateQRCodeOnce(r.Context(), creatorOf(p), p.org.ID, req.withNulls(body), idem)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/qr-codes/"+c.QR.ID)
	if c.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if c.FirstResponse != nil {
		// The first answer as it was sent, whatever became of the code:
		// a code is created at version 1, and the body says when.
		var first struct {
			UpdatedAt time.Time `json:"updatedAt"`
		}
		json.Unmarshal(c.FirstResponse, &first)
		// It was made when the code was created: its validators as then.
		setValidators(w.Header(), &snapglyph.QRCode{Version: 1, UpdatedAt: first.UpdatedAt}, first.UpdatedAt)
		writeBody(w, http.StatusCreated, "application/json", c.FirstResponse)
		return
	}
	setValidators(w.Header(), c.QR, p.now)
	if resp == nil || c.Replayed {
		resp, _ = json.Marshal(toQRJSON(c.QR))
	}
	writeBody(w, http.StatusCreated, "application/json", resp)
}

func (s *Server) handleQRUpdate(w http.ResponseWriter, r *http.Request, p *principal) {
	id, err := qrPathID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req qrRequest
	body, ok := s.readBody(w, r, p, &req)
	if !ok {
		return
	}
	// A change that leaves the code as stored writes nothing: it is
	// answered as it is, with the same ETag and Last-Modified.
	// content is merged into the stored content, as design is into the
	// design, while the type stays (service.QRInput.MergeContent).
	in := req.withNulls(body)
	in.MergeContent = true
	q, err := s.svc.UpdateQRCodeIf(r.Context(), creatorOf(p), p.org.ID, id, in, preconditionOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setValidators(w.Header(), q, p.now)
	encode(w, http.StatusOK, toQRJSON(q))
}

// qrRequestFields are the JSON names of qrRequest's fields, read from the
// type so that a field added to it is checked for null too.
var qrRequestFields = func() []string {
	t := reflect.TypeFor[qrRequest]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// withNulls is what a POST or PATCH body (already decoded into q) asks
// for. The fields it sent as null are named in Nulls, for the service to
// refuse: decoding leaves name and type nil, as if left out, and input
// makes content and design so.
func (q qrRequest) withNulls(body []byte) service.QRInput {
	in := q.input()
	var sent map[string]json.RawMessage
	if !bytes.Contains(body, []byte("null")) || json.Unmarshal(body, &sent) != nil {
		return in // decodeBody has accepted it: the object has no null
	}
	for _, f := range qrRequestFields {
		if string(sent[f]) == "null" {
			in.Nulls = append(in.Nulls, f)
		}
	}
	return in
}

func (s *Server) handleQRDelete(w http.ResponseWriter, r *http.Request, p *principal) {
	id, err := qrPathID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.svc.DeleteQRCodeIf(r.Context(), creatorOf(p), p.org.ID, id, preconditionOf(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Page sizes of GET /api/v1/qr-codes.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

func (s *Server) handleQRList(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	f := snapglyph.QRFilter{Type: q.Get("type"), CreatedByKey: q.Get("createdByKey"), Cursor: q.Get("cursor"), Limit: defaultPageSize}
	var bad queryErrors
	// A filter given empty (type=, createdByKey) is refused, not read as
	// no filter: a script whose variable came out empty would otherwise
	// be answered every code of the organisation as the key's work. Only
	// an empty cursor= or limit= means none, as README says.
	bad.emptyParam(q, "type", "send one of "+strings.Join(qr.Types, ", ")+", or leave it out to list every type")
	bad.emptyParam(q, "createdByKey", "send an API key id (key_…), or leave it out to list the codes of every key")
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			bad.add("limit", fmt.Sprintf("must be a whole number from 1 to %d", maxPageSize))
		}
		f.Limit = n
	}
	if f.Type != "" && !slices.Contains(qr.Types, f.Type) {
		bad.add("type", "must be one of "+strings.Join(qr.Types, ", "))
	}
	if f.CreatedByKey != "" && !strings.HasPrefix(f.CreatedByKey, "key_") {
		msg := "must be an API key id (key_…, as the keys list and each QR code's createdByKey show)"
		if strings.HasPrefix(f.CreatedByKey, snapglyph.KeyPrefix) {
			msg = "must be an API key id (key_…), not the key itself"
		}
		bad.add("createdByKey", msg)
	}
	if f.Cursor != "" && !service.ValidQRCursor(f.Cursor) {
		bad.add("cursor", "is not one this API returned (a page's nextCursor); start again without it")
	}
	if err := bad.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	codes, next, err := s.svc.QRCodes(r.Context(), creatorOf(p), p.org.ID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Data       []qrJSON `json:"data"`
		NextCursor *string  `json:"nextCursor"`
	}{Data: make([]qrJSON, 0, len(codes))}
	for _, c := range codes {
		out.Data = append(out.Data, toQRJSON(c))
	}
	if next != "" {
		out.NextCursor = &next
	}
	encode(w, http.StatusOK, out)
}

// queryErrors collects a request's bad query parameters, so they are
// refused together, as a body's bad fields are.
type queryErrors []snapglyph.FieldError

func (e *queryErrors) add(field, msg string) {
	*e = append(*e, snapglyph.FieldError{Field: field, Message: msg})
}

// emptyParam refuses the parameter name when the query gives it without
// a value (name= or name alone); fix says what to send instead.
func (e *queryErrors) emptyParam(q url.Values, name, fix string) {
	if v, ok := q[name]; ok && len(v) == 1 && v[0] == "" {
		e.add(name, "is empty: "+fix)
	}
}

func (e queryErrors) err() error {
	if len(e) == 0 {
		return nil
	}
	if len(e) == 1 {
		return fieldError(e[0].Field, e[0].Message)
	}
	names := make([]string, len(e))
	for i, f := range e {
		names[i] = f.Field
	}
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request",
		Message: "the request has invalid query parameters: " + strings.Join(names, ", "), Fields: e}
}

func fieldError(field, msg string) error {
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: field + " " + msg,
		Fields: []snapglyph.FieldError{{Field: field, Message: msg}}}
}

// handleQRGet answers the QR code as JSON, or as an image with ?format=.
func (s *Server) handleQRGet(w http.ResponseWriter, r *http.Request, p *principal) {
	query := r.URL.Query()
	format := query.Get("format")
	var bad queryErrors
	// An empty parameter is refused as any bad value is, not read as its
	// default (README: only an empty cursor= or limit= means none).
	bad.emptyParam(query, "format", "send json, svg or png, or leave it out for JSON")
	bad.emptyParam(query, "size", fmt.Sprintf("send a whole number of pixels from %d to %d, or leave it out for %d", qr.MinSize, qr.MaxSize, qr.DefaultSize))
	bad.emptyParam(query, "download", "send 1 or true for the image as a file to save, or leave it out")
	if format != "" && format != "json" && format != "svg" && format != "png" {
		bad.add("format", "must be json, svg or png")
	}
	image := format == "svg" || format == "png"
	switch v := query.Get("download"); {
	case v != "" && v != "1" && v != "true":
		bad.add("download", "must be 1 or true (the image as a file to save); leave it out otherwise")
	case v != "" && !image:
		bad.add("download", "applies to format=svg or format=png only")
	}
	size := 0
	if v := query.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case format != "png":
			bad.add("size", "applies to format=png only (SVG scales to any size)")
		case err != nil || n < qr.MinSize || n > qr.MaxSize:
			bad.add("size", fmt.Sprintf("must be a whole number of pixels from %d to %d (default %d)", qr.MinSize, qr.MaxSize, qr.DefaultSize))
		}
		size = n
	}
	if err := bad.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := qrPathID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// An image needs the logo's hash, not the logo: the logo is read
	// only when the image is drawn. JSON tells the logo's type and size,
	// which the database gives without reading the logo.
	get := s.svc.QRCodeWithoutLogo
	if format == "" || format == "json" {
		get = s.svc.QRCodeMetadata
	}
	q, err := get(r.Context(), creatorOf(p), p.org.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == "" || format == "json" {
		if err := readPrecondition(r, qrETag(q), q.UpdatedAt, "GET it without the condition to read it as it is"); err != nil {
			s.writeError(w, r, err)
			return
		}
		setValidators(w.Header(), q, p.now)
		if httpx.NotModifiedSince(w, r, qrETag(q), q.UpdatedAt) {
			return
		}
		encode(w, http.StatusOK, toQRJSON(q))
		return
	}
	s.serveImage(w, r, p, q, format, size)
}

// serveImage answers an image request in the order that spends the least
// (httpx.ServeImage): the ETag comes from the stored code, so a
// conditional request (and a HEAD) is answered without rendering and
// without credits; the credits are charged before rendering, so a request
// without credits costs no CPU; and they are refunded, with the call,
// when the node is too busy to render (503 render_busy) or rendering
// fails. A HEAD is refused as the GET would be when the credits are too
// few, and charged none.
func (s *Server) serveImage(w http.ResponseWriter, r *http.Request, p *principal, q *snapglyph.QRCode, format string, size int) {
	etag, err := s.svc.ImageTag(q, format, size)
	if err == nil {
		// Before any credit is asked: a 412 costs its call alone.
		err = readPrecondition(r, etag, q.UpdatedAt, "no credit was charged: GET it without the condition to receive it")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cost := int64(svgCredits)
	if format == "png" {
		cost = pngCredits
	}
	h := w.Header()
	img := httpx.Image{ETag: etag, ContentType: service.ImageContentType(format), Attachment: service.Attachment(q.Name, format)}
	img.Admit = func() error {
		// The meter alone knows exactly what a GET would be granted (other
		// nodes' leases, spending not yet recorded), which the reported
		// figures (p.credits) trail by up to a flush interval.
		credits, ok, err := s.meter.Probe(r.Context(), p.org, snapglyph.ImageCredits, cost)
		if err != nil {
			return unavailable(err)
		}
		if !ok {
			return s.refuseImageCredits(w, p, credits, format, cost)
		}
		return nil
	}
	err = httpx.ServeImage(w, r, img, func() ([]byte, error) {
		credits, ok, err := s.meter.Charge(r.Context(), p.org, snapglyph.ImageCredits, cost)
		if err != nil {
			return nil, unavailable(err)
		}
		if !ok {
			return nil, s.refuseImageCredits(w, p, credits, format, cost)
		}
		// Spent from the charge on: a render that panics gives them
		// back (refundPanicked).
		p.spent.ImageCredits += cost
		p.creditsPeriod = credits.Period
		img, err := s.svc.RenderQRCode(r.Context(), q, format, size)
		if err == nil {
			// A client that left while its image was drawn is sent
			// nothing, so it pays nothing (credits are charged when the
			// image is sent): 499, as writeError answers it.
			err = r.Context().Err()
		}
		if err != nil {
			s.meter.Refund(p.org, snapglyph.ImageCredits, cost, credits.Period)
			p.spent.ImageCredits -= cost
			p.creditsPeriod = ""
			credits.Remaining += cost
			setCreditHeaders(h, credits)
			if snapglyph.ErrorKind(err) == snapglyph.EBUSY {
				s.refundCall(w, p)
			}
			return nil, err
		}
		setCreditHeaders(h, credits)
		return img.Data, nil
	})
	if err != nil {
		s.writeError(w, r, err)
	}
}

// refuseImageCredits is the answer to an image the organisation has too
// few credits for (credits, as the meter reported them): 429 with the
// credits and Retry-After, and the call refunded, for a GET and a HEAD
// alike.
func (s *Server) refuseImageCredits(w http.ResponseWriter, p *principal, credits meterState, format string, cost int64) error {
	s.refundCall(w, p)
	return s.creditsRefusal(w, p.org, p.now, credits, format, cost)
}

// creditsRefusal is the 429 of an image the organisation has too few
// credits for, with the credits' headers and Retry-After.
func (s *Server) creditsRefusal(w http.ResponseWriter, org *snapglyph.Org, now time.Time, credits meterState, format string, cost int64) error {
	if credits.Remaining <= 0 { // none left, not just too few for this image
		s.recorder.RecordRefusal(org.ID, credits.Period, snapglyph.ImageCredits, now)
	}
	h := w.Header()
	setCreditHeaders(h, credits)
	h.Set("Retry-After", strconv.FormatInt(retryAfter(now, credits.ResetsAt), 10))
	return snapglyph.Codef(snapglyph.ERATELIMIT, "image_credit_limit_reached",
		"this %s image costs %s and the organisation has %d of its %d left this month; SVG costs 1 credit, JSON none; the allowance renews on %s",
		strings.ToUpper(format), snapglyph.Plural(cost, "credit"), credits.Remaining, credits.Limit, credits.ResetsAt.Format("2006-01-02 15:04 UTC"))
}

// qrETag is the entity tag of a QR code's JSON: its version, which every
// change increases, so equal tags mean byte-equal representations (a
// strong tag).
func qrETag(q *snapglyph.QRCode) string {
	return `"v` + strconv.FormatInt(q.Version, 10) + `"`
}

// setValidators sets the ETag and Last-Modified (httpx.SetLastModified,
// for a response made at now) of a QR code's JSON, and Cache-Control: a
// client may keep it but must revalidate before reuse.
func setValidators(h http.Header, q *snapglyph.QRCode, now time.Time) {
	h.Set("ETag", qrETag(q))
	httpx.SetLastModified(h, q.UpdatedAt, now)
	h.Set("Cache-Control", "private, no-cache")
}

// preconditionOf is the condition a PATCH or DELETE puts on the code's
// current state: If-Match must list its ETag (strong comparison) or be
// "*"; without If-Match, If-Unmodified-Since must be after its last
// change; and If-None-Match must not list its ETag (RFC 9110 §13.1,
// in the order of §13.2.2). Nil without any of them.
func preconditionOf(r *http.Request) service.Precondition {
	if !httpx.HasField(r, "If-Match") && !httpx.HasField(r, "If-None-Match") && !httpx.HasField(r, "If-Unmodified-Since") {
		return nil
	}
	return func(q *snapglyph.QRCode) error {
		tag := qrETag(q)
		if err := readPrecondition(r, tag, q.UpdatedAt, "nothing was changed: GET it again, then send the change with its new ETag"); err != nil {
			return err
		}
		if httpx.NoneMatch(r, tag) {
			return snapglyph.Codef(snapglyph.EPRECONDITION, "precondition_failed",
				"If-None-Match lists the QR code's current ETag %s (or is *); nothing was changed", tag)
		}
		return nil
	}
}

// readPrecondition is 412 precondition_failed when r's If-Match does not
// list etag (or is not "*"), or, without If-Match, when its
// If-Unmodified-Since is not after modified (RFC 9110 §13.1.1, §13.1.4):
// the representation, tagged etag and last changed at modified, is not
// the one the client holds. then says what was (not) done and what to do.
func readPrecondition(r *http.Request, etag string, modified time.Time, then string) error {
	if httpx.MatchFails(r, etag) {
		return snapglyph.Codef(snapglyph.EPRECONDITION, "precondition_failed",
			"If-Match does not list the current ETag %s: the QR code changed since you read it (or the header is not a list of quoted ETags); %s", etag, then)
	}
	if httpx.UnmodifiedSinceFails(r, modified) {
		return snapglyph.Codef(snapglyph.EPRECONDITION, "precondition_failed",
			"If-Unmodified-Since is %s, but the QR code was last changed at %s, not before it; %s",
			snapglyph.Shorten(httpx.FirstField(r, "If-Unmodified-Since"), 40), modified.UTC().Format("2006-01-02 15:04:05.000 UTC"), then)
	}
	return nil
}
