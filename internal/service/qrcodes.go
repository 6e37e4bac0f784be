package service

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// MaxQRNameLen is the longest QR-code name, in characters.
const MaxQRNameLen = 100

// QRInput is a QR code to create, or the fields of one to change: nil or
// empty fields are left as they are (on create: name, type and content are
// required). Design is a JSON object applied over the current design (on
// create, over the defaults); its "logo" is base64, and null removes it.
type QRInput struct {
	Name    *string
	Type    *string
	Content json.RawMessage
	Design  json.RawMessage
	// Nulls names the fields a JSON body sent as null ("name", "design"),
	// which a nil field cannot tell from fields left out. They are refused
	// (nullProblem), as the API's schema declares none of them nullable: a
	// change cannot empty them, and null could mean "keep" as well as
	// "reset"; a create takes a value or the field left out.
	Nulls []string
	// MergeContent makes a change's Content a patch of the stored content
	// (the API's PATCH), as Design is of the design: the fields it holds
	// replace those stored (an object such as a vCard's address is merged
	// the same way, an array replaced whole), null removes a field, and the
	// fields it leaves out are kept (mergeContent). It applies only while
	// the type stays; content for a new type is complete. Without it (the
	// dashboard, which sends the whole form) Content replaces the content.
	MergeContent bool
}

// authorizeQR checks that the creator may work on the organisation's QR
// codes: any member, or an API key of the organisation (which the API has
// already verified). Returns ENOTFOUND for a stranger.
func (s *Service) authorizeQR(ctx context.Context, by snapglyph.Creator, orgID string) error {
	if by.Type != snapglyph.CreatorUser {
		return nil
	}
	_, err := s.db.Role(ctx, orgID, by.ID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	}
	return err
}

// CreateQRCode validates and stores a QR code. Returns EINVALID listing
// every bad field, EUNPROCESSABL (content_too_long) when the content does
// not fit, EFORBIDDEN (qr_code_limit_reached) past the plan's number of
// QR codes.
func (s *Service) CreateQRCode(ctx context.Context, by snapglyph.Creator, orgID string, in QRInput) (*snapglyph.QRCode, error) {
	c, err := s.CreateQRCodeOnce(ctx, by, orgID, in, nil)
	return c.QR, err
}

// Created is the outcome of CreateQRCodeOnce.
type Created struct {
	QR *snapglyph.QRCode
	// Replayed is true when an earlier request with the same idempotency
	// key created QR; FirstResponse is then what that request answered,
	// recorded with the key (Idempotency.Response).
	Replayed      bool
	FirstResponse []byte
}

// CreateQRCodeOnce is CreateQRCode for a request its client may retry:
// with idem, a request repeated within 24 hours returns the code the
// first one created (Replayed) and the first response if it was recorded,
// instead of creating another. Returns EUNPROCESSABL
// (idempotency_key_reused) when the key came with another request.
func (s *Service) CreateQRCodeOnce(ctx context.Context, by snapglyph.Creator, orgID string, in QRInput, idem *snapglyph.Idempotency) (Created, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return Created{}, err
	}
	if idem != nil {
		if c, ok, err := s.replay(ctx, orgID, idem); ok || err != nil {
			return c, err
		}
	}
	q, replayed, err := s.createQR(ctx, by, orgID, in, idem)
	if err != nil || !replayed {
		return Created{QR: q, Replayed: replayed}, err
	}
	// A request with the same key committed first (a retry that raced
	// it): answer as it did.
	c, _, err := s.replay(ctx, orgID, idem)
	return c, err
}

// replay returns what the earlier request with idem created (ok), with its
// recorded answer; a key recorded without one (by a caller that gave no
// Response) gets the code as it is now.
func (s *Service) replay(ctx context.Context, orgID string, idem *snapglyph.Idempotency) (c Created, ok bool, err error) {
	id, first, err := s.db.Replayed(ctx, orgID, idem)
	if err != nil || id == "" {
		return Created{}, false, err
	}
	if first != nil {
		return Created{QR: &snapglyph.QRCode{ID: id, OrgID: orgID}, Replayed: true, FirstResponse: first}, true, nil
	}
	q, err := s.db.QRCode(ctx, orgID, id)
	return Created{QR: q, Replayed: true}, true, err
}

func (s *Service) createQR(ctx context.Context, by snapglyph.Creator, orgID string, in QRInput, idem *snapglyph.Idempotency) (*snapglyph.QRCode, bool, error) {
	q, _, err := s.checkNew(by, orgID, in, true)
	if err != nil {
		return nil, false, err
	}
	// The store enforces the plan's number of QR codes in the insert's
	// transaction: a count here would let parallel creates pass it.
	replayed, err := s.db.CreateQRCode(ctx, q, idem)
	if err != nil {
		return nil, false, err
	}
	if replayed != "" {
		// A concurrent request with the same key created it first
		// (CreateQRCodeOnce answers as that request did).
		return &snapglyph.QRCode{ID: replayed, OrgID: orgID}, true, nil
	}
	return q, false, nil
}

// UpdateQRCode changes a QR code; the result is validated as a whole. A
// change that leaves the code as it is stored writes nothing: the code is
// returned as it is, its Version and UpdatedAt unchanged. Returns EINVALID
// listing every bad field, the fields sent as null (in.Nulls) included.
func (s *Service) UpdateQRCode(ctx context.Context, by snapglyph.Creator, orgID, id string, in QRInput) (*snapglyph.QRCode, error) {
	return s.UpdateQRCodeIf(ctx, by, orgID, id, in, nil)
}

// A Precondition is a client's condition on a QR code's current state (the
// API's If-Match): it returns an error, EPRECONDITION, when the change
// must not be made. It is checked on the code as read, and the write names
// the version it was read at, so the condition holds for the state that
// is changed: a change made by another request in between is never
// overwritten.
type Precondition func(q *snapglyph.QRCode) error

// maxWriteTries bounds how many times a change is read and applied again
// when other requests change the code between its read and its write.
const maxWriteTries = 5

// UpdateQRCodeIf is UpdateQRCode under a precondition (nil: none). A
// change never overwrites one it did not see: when the code changed
// between its read and its write, it is read, checked and applied again
// (so a PATCH of the name and one of the content, at once, both land).
// Changes of one code in this process take turns, so they collide only
// with other processes' changes. Returns EPRECONDITION when pre refuses the code, ECONFLICT
// (qr_code_changed) when it kept changing.
func (s *Service) UpdateQRCodeIf(ctx context.Context, by snapglyph.Creator, orgID, id string, in QRInput, pre Precondition) (*snapglyph.QRCode, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return nil, err
	}
	mu := &s.qrWrites[crc32.ChecksumIEEE([]byte(id))%uint32(len(s.qrWrites))]
	mu.Lock()
	defer mu.Unlock()
	for try := 1; ; try++ {
		q, err := s.updateQR(ctx, orgID, id, in, pre)
		if snapglyph.ErrorKind(err) != snapglyph.EPRECONDITION || try == maxWriteTries || !stale(err) {
			return q, changedTooOften(err)
		}
	}
}

// staleErr marks the store's refusal of a write at an old version, to tell
// it from a Precondition's refusal.
type staleErr struct{ error }

func (e staleErr) Unwrap() error { return e.error }

func stale(err error) bool {
	var se staleErr
	return errors.As(err, &se)
}

// changedTooOften turns the store's refusal of a write at an old version,
// after every try, into ECONFLICT; other errors pass.
func changedTooOften(err error) error {
	if stale(err) {
		return snapglyph.Codef(snapglyph.ECONFLICT, "qr_code_changed",
			"the QR code was changed by other requests %d times while this change was being applied; nothing was changed: send it again", maxWriteTries)
	}
	return err
}

// updateQR reads the code, checks pre and applies in to it, and writes
// the result at the version it read, unless it would store what is
// stored: then nothing is written, and the code is answered as read, its
// version and updatedAt unchanged (so other clients' If-Match still
// holds, and no qr.updated event is sent). That decision is as safe as
// the write's: it compares the result with the code at exactly the
// version the write would name (read in one statement, the version pre
// was checked on), and a change made since then is not overwritten, as
// nothing is written; the answer is that version, as a GET made at the
// read would give.
func (s *Service) updateQR(ctx context.Context, orgID, id string, in QRInput, pre Precondition) (*snapglyph.QRCode, error) {
	q, err := s.db.QRCode(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if pre != nil {
		if err := pre(q); err != nil {
			return nil, err
		}
	}
	read := *q // checkChange changes q; its fields are replaced, never written into
	if _, err := s.checkChange(q, in); err != nil {
		return nil, err
	}
	if sameStored(&read, q) {
		return &read, nil
	}
	if err := s.db.UpdateQRCode(ctx, q); err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.EPRECONDITION {
			return nil, staleErr{err}
		}
		return nil, err
	}
	return q, nil
}

// sameStored reports whether b would be stored as a is: every column
// store.UpdateQRCode writes (name, type, content as stored, payload,
// design, logo and its type) is equal. Content is compared in the form
// applyQR stores (canonicalJSON: no spaces, no needless escapes) but in
// the order of its keys, which the JSON answered keeps. Both are brought
// to that form, as a row stored before it kept the escapes its client
// sent.
// No logo and an empty one are the same.
func sameStored(a, b *snapglyph.QRCode) bool {
	return a.Name == b.Name && a.Type == b.Type && bytes.Equal(canonicalJSON(a.Content), canonicalJSON(b.Content)) && a.Payload == b.Payload &&
		a.Design == b.Design && a.LogoType == b.LogoType && bytes.Equal(a.Logo, b.Logo)
}

// checkNew validates in as a new QR code of the organisation, made by by,
// and returns the code (not stored) and its design. Name, type and
// content are required; without nameRequired (a preview) the name is
// neither required nor checked. Returns EINVALID listing every bad field,
// EUNPROCESSABL (content_too_long) when the content does not fit, and
// ErrRenderBusy when the logo could not be decoded for want of a slot.
func (s *Service) checkNew(by snapglyph.Creator, orgID string, in QRInput, nameRequired bool) (*snapglyph.QRCode, qr.Design, error) {
	var missing []snapglyph.FieldError
	for _, f := range in.Nulls {
		missing = append(missing, snapglyph.FieldError{Field: f, Message: nullProblem(f, true)})
	}
	missing = append(missing, designNulls(in.Design, true)...)
	sent := func(f string) bool { return slices.Contains(in.Nulls, f) } // as null: refused above
	if !nameRequired {
		in.Name = nil
	} else if in.Name == nil && !sent("name") {
		missing = append(missing, snapglyph.FieldError{Field: "name", Message: "is required"})
	}
	if in.Type == nil && !sent("type") {
		missing = append(missing, snapglyph.FieldError{Field: "type", Message: "is required: one of " + strings.Join(qr.Types, ", ")})
	}
	if len(in.Content) == 0 && !sent("content") {
		missing = append(missing, snapglyph.FieldError{Field: "content", Message: "is required"})
	}
	q := &snapglyph.QRCode{ID: snapglyph.NewID("qr"), OrgID: orgID, CreatedBy: by}
	d := qr.DefaultDesign()
	errs, err := s.applyQR(q, &d, in)
	if err != nil {
		return nil, d, err
	}
	if errs = append(missing, errs...); len(errs) > 0 {
		return nil, d, invalidFields(errs)
	}
	if err := checkFits(q.Payload, d.ErrorCorrection); err != nil {
		return nil, d, err
	}
	return q, d, nil
}

// checkChange applies in to the saved code q (read with its logo), as
// UpdateQRCode changes it, validates the result as a whole and returns
// its design. Returns what checkNew returns; q is then partly changed.
func (s *Service) checkChange(q *snapglyph.QRCode, in QRInput) (qr.Design, error) {
	d := designOf(q)
	var errs []snapglyph.FieldError
	for _, f := range in.Nulls {
		errs = append(errs, snapglyph.FieldError{Field: f, Message: nullProblem(f, false)})
	}
	errs = append(errs, designNulls(in.Design, false)...)
	if in.Type != nil && *in.Type != q.Type && len(in.Content) == 0 && !slices.Contains(in.Nulls, "content") {
		errs = append(errs, snapglyph.FieldError{Field: "content", Message: "is required when the type changes"})
	}
	if in.Type == nil {
		// The type stays: new content is checked against it, and the
		// current content is re-checked against the new design below.
		t := q.Type
		in.Type = &t
	}
	if *in.Type == q.Type {
		switch {
		case len(in.Content) == 0:
			in.Content = q.Content
		case in.MergeContent:
			in.Content = mergeContent(q.Type, q.Content, in.Content)
		}
	}
	applied, err := s.applyQR(q, &d, in)
	if err != nil {
		return d, err
	}
	if errs = append(errs, applied...); len(errs) > 0 {
		return d, invalidFields(errs)
	}
	return d, checkFits(q.Payload, d.ErrorCorrection)
}

// mergeContent applies patch, a content object sent with a change, to
// the stored content of type typ (RFC 7396's JSON merge patch): each
// field of patch replaces the stored one, an object (a vCard's address)
// is merged in turn, an array (a vCard's phones) is replaced whole, and
// null removes the field (the content schemas hold null as absent, so it
// can only mean that). Fields patch leaves out are kept, in the stored
// order; new ones follow in the order sent. A patch or stored content
// that is no object is returned as sent, for qr.Payload to refuse.
func mergeContent(typ string, stored, patch json.RawMessage) json.RawMessage {
	return mergeObject(typ, "", stored, patch)
}

// mergeObject merges patch into stored, the content's object at path
// ("" or "address"). A null for a field that is neither stored nor one
// of the object's fields stays in the result, so qr.Payload refuses it
// as unknown (a misspelt field sent as null must not read as removed).
// Only the content's own fields are merged as objects: content is two
// levels deep, so deeper objects are taken as sent, for qr.Payload to
// refuse, and the work stays linear in the patch however it nests.
func mergeObject(typ, path string, stored, patch json.RawMessage) json.RawMessage {
	base, ok := objectMembers(stored)
	if !ok {
		return patch
	}
	changes, ok := objectMembers(patch)
	if !ok {
		return patch
	}
	known := qr.ContentFields(typ, path)
	at := make(map[string]int, len(base)+len(changes))
	for i, m := range base {
		at[m.key] = i
	}
	for _, c := range changes {
		i, held := at[c.key]
		if isJSONNull(c.value) && (held || slices.Contains(known, c.key)) {
			if held {
				base[i].value = nil // removed
			}
			continue
		}
		if path == "" && !isJSONNull(c.value) {
			if _, isObject := objectMembers(c.value); isObject {
				// Merged over what is stored, or over nothing: its
				// nulls are removed either way.
				under := json.RawMessage(`{}`)
				if held && base[i].value != nil {
					if _, ok := objectMembers(base[i].value); ok {
						under = base[i].value
					}
				}
				c.value = mergeObject(typ, c.key, under, c.value)
			}
		}
		if held {
			base[i].value = c.value
		} else {
			at[c.key] = len(base)
			base = append(base, c)
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for _, m := range base {
		if m.value == nil {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(m.rawKey)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// member is one field of a JSON object: its key as written (quoted,
// escapes kept), the key decoded, and its value.
type member struct {
	rawKey []byte
	key    string
	value  json.RawMessage
}

// objectMembers returns the fields of a JSON object in their order, and
// false when raw is no object.
func objectMembers(raw json.RawMessage) ([]member, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var out []member
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, false
		}
		rawKey := bytes.TrimLeft(t[start:dec.InputOffset()], " \t\r\n,")
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		var compact bytes.Buffer
		json.Compact(&compact, v)
		out = append(out, member{rawKey: bytes.Clone(rawKey), key: key, value: compact.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	return out, true
}

func isJSONNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// canonicalJSON returns the JSON value raw in the one form content is
// stored in, so that the same values sent with other escapes are the
// same content (no new version, no If-Match broken for other clients):
// without spaces, and with every string and key decoded and written
// again with only the escapes encoding/json needs (a quote, a backslash,
// control characters, U+2028 and U+2029), not those a client chose
// ("\u00e9" is stored as "é", "\/" as "/", "\u0074ext" as "text"; HTML's
// <, > and & stay as they are). The order of an object's keys, a key
// given twice and numbers as written are kept, as json.Compact kept them.
// raw that is not one JSON value is returned as it is.
func canonicalJSON(raw json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	str := json.NewEncoder(&b)
	str.SetEscapeHTML(false)
	// For each object or array open, whether it is an object and how
	// many tokens (keys and values) it has had, which tell the separator.
	type open struct {
		object bool
		n      int
	}
	var stack []open
	for {
		tok, err := dec.Token()
		if err != nil {
			return raw
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteByte(byte(d))
		} else {
			if len(stack) > 0 {
				o := &stack[len(stack)-1]
				switch {
				case o.object && o.n%2 == 1:
					b.WriteByte(':')
				case o.n > 0:
					b.WriteByte(',')
				}
				o.n++
			}
			switch t := tok.(type) {
			case json.Delim:
				b.WriteByte(byte(t))
				stack = append(stack, open{object: t == '{'})
			case string:
				str.Encode(t)
				b.Truncate(b.Len() - 1) // the newline Encode ends with
			case json.Number:
				b.WriteString(string(t))
			case bool:
				b.WriteString(strconv.FormatBool(t))
			case nil:
				b.WriteString("null")
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return raw
	}
	return b.Bytes()
}

// nullProblem says why a create (creating) or a change refuses the field
// sent as null.
func nullProblem(field string, creating bool) string {
	if creating {
		switch field {
		case "type":
			return "must not be null: send one of " + strings.Join(qr.Types, ", ")
		case "design":
			return "must not be null: send an object with the design fields to set, or leave the field out for the default design"
		}
		return "must not be null: send a value"
	}
	switch field {
	case "name":
		return "must not be null: send the new name, or leave the field out to keep the name"
	case "type":
		return "must not be null: send one of " + strings.Join(qr.Types, ", ") + ", or leave the field out to keep the type"
	case "content":
		return "must not be null: send the new content, or leave the field out to keep the content"
	case "design":
		return `must not be null: send an object with the design fields to change (a field left out keeps its value; "logo": null removes the logo), or leave the field out to keep the design`
	}
	return "must not be null: leave the field out to keep its value"
}

// designNulls refuses the fields of a create's (creating) or a change's
// design sent as null, but the logo's (no logo, or the logo removed):
// decoding would keep their value, and null could as well mean the
// default. They are reported by path, in the design's order. Unknown
// fields, and a design that is no object, are decodeDesign's to refuse.
func designNulls(raw json.RawMessage, creating bool) []snapglyph.FieldError {
	message := "must not be null: send a value, or leave the field out to keep it (only the logo takes null, which removes it)"
	if creating {
		message = "must not be null: send a value, or leave the field out for its default (only the logo takes null: no logo)"
	}
	var fields map[string]json.RawMessage
	if !bytes.Contains(raw, []byte("null")) || json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	var errs []snapglyph.FieldError
	for _, k := range []string{"foreground", "background", "errorCorrection", "margin"} {
		if string(fields[k]) == "null" {
			errs = append(errs, snapglyph.FieldError{Field: "design." + k, Message: message})
		}
	}
	return errs
}

// QRCode returns an organisation's QR code (with its logo).
func (s *Service) QRCode(ctx context.Context, by snapglyph.Creator, orgID, id string) (*snapglyph.QRCode, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return nil, err
	}
	return s.db.QRCode(ctx, orgID, id)
}

// QRCodeWithoutLogo returns an organisation's QR code without its logo
// bytes (LogoSHA256 says whether it has one): enough for ImageTag and
// RenderQRCode, which reads the logo only when it has to draw it.
func (s *Service) QRCodeWithoutLogo(ctx context.Context, by snapglyph.Creator, orgID, id string) (*snapglyph.QRCode, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return nil, err
	}
	return s.db.QRCodeWithoutLogo(ctx, orgID, id)
}

// QRCodeMetadata returns an organisation's QR code without reading its
// logo at all: enough for its JSON, which tells the logo's type and size.
func (s *Service) QRCodeMetadata(ctx context.Context, by snapglyph.Creator, orgID, id string) (*snapglyph.QRCode, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return nil, err
	}
	return s.db.QRCodeMetadata(ctx, orgID, id)
}

// QRCodes lists an organisation's QR codes, newest first.
func (s *Service) QRCodes(ctx context.Context, by snapglyph.Creator, orgID string, f snapglyph.QRFilter) ([]*snapglyph.QRCode, string, error) {
	if err := s.authorizeQRFilter(ctx, by, orgID, f); err != nil {
		return nil, "", err
	}
	return s.db.QRCodes(ctx, orgID, f)
}

// CountQRCodesMatching returns how many QR codes f's filters (its type
// and creating key; not its cursor or limit) match: the whole of what
// QRCodes pages through.
func (s *Service) CountQRCodesMatching(ctx context.Context, by snapglyph.Creator, orgID string, f snapglyph.QRFilter) (int, error) {
	if err := s.authorizeQRFilter(ctx, by, orgID, f); err != nil {
		return 0, err
	}
	return s.db.CountQRCodesMatching(ctx, orgID, f)
}

// authorizeQRFilter is authorizeQR for a list's filters, which it checks.
func (s *Service) authorizeQRFilter(ctx context.Context, by snapglyph.Creator, orgID string, f snapglyph.QRFilter) error {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return err
	}
	if f.Type != "" && !slices.Contains(qr.Types, f.Type) {
		return invalidFields([]snapglyph.FieldError{{Field: "type", Message: "must be one of " + strings.Join(qr.Types, ", ")}})
	}
	return nil
}

// ValidQRCursor reports whether cursor is one a QR-code list returned.
func ValidQRCursor(cursor string) bool { return store.ValidQRCursor(cursor) }

// CountQRCodes returns how many QR codes the organisation holds (to show
// beside its plan's limit).
func (s *Service) CountQRCodes(ctx context.Context, by snapglyph.Creator, orgID string) (int, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return 0, err
	}
	return s.db.CountQRCodes(ctx, orgID)
}

// DeleteQRCode deletes an organisation's QR code.
func (s *Service) DeleteQRCode(ctx context.Context, by snapglyph.Creator, orgID, id string) error {
	return s.DeleteQRCodeIf(ctx, by, orgID, id, nil)
}

// DeleteQRCodeIf is DeleteQRCode under a precondition (nil: none), checked
// on the code as read; the delete names the version it was read at, and
// when the code changed in between, it is read and checked again.
// Returns EPRECONDITION when pre refuses the code, ECONFLICT
// (qr_code_changed) when it kept changing.
func (s *Service) DeleteQRCodeIf(ctx context.Context, by snapglyph.Creator, orgID, id string, pre Precondition) error {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return err
	}
	if pre == nil {
		return s.db.DeleteQRCode(ctx, orgID, id, 0)
	}
	for try := 1; ; try++ {
		q, err := s.db.QRCodeWithoutLogo(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := pre(q); err != nil {
			return err
		}
		err = s.db.DeleteQRCode(ctx, orgID, id, q.Version)
		if snapglyph.ErrorKind(err) != snapglyph.EPRECONDITION {
			return err
		}
		if try == maxWriteTries {
			return changedTooOften(staleErr{err})
		}
	}
}

func designOf(q *snapglyph.QRCode) qr.Design {
	return qr.Design{Foreground: q.Design.Foreground, Background: q.Design.Background,
		ErrorCorrection: q.Design.ErrorCorrection, Margin: q.Design.Margin, Logo: q.Logo}
}

// applyQR validates in and applies it to q and d, returning every problem.
// The logo is decoded through the image caches and render slots (a logo
// saved or previewed before is not decoded again); the error is
// ErrRenderBusy when no slot frees up for it in time.
func (s *Service) applyQR(q *snapglyph.QRCode, d *qr.Design, in QRInput) ([]snapglyph.FieldError, error) {
	errs := append(textFieldErrors("content", in.Content), textFieldErrors("design", in.Design)...)
	if in.Name != nil {
		name, msg := snapglyph.NormalizeName(*in.Name)
		switch n := utf8.RuneCountInString(name); {
		case msg != "":
			errs = append(errs, snapglyph.FieldError{Field: "name", Message: msg})
		case n == 0:
			errs = append(errs, snapglyph.FieldError{Field: "name", Message: "must not be empty"})
		case n > MaxQRNameLen:
			errs = append(errs, snapglyph.FieldError{Field: "name", Message: fmt.Sprintf("has %d characters; at most %d are allowed", n, MaxQRNameLen)})
		}
		q.Name = name
	}
	if in.Type != nil {
		if !slices.Contains(qr.Types, *in.Type) {
			errs = append(errs, snapglyph.FieldError{Field: "type", Message: "must be one of " + strings.Join(qr.Types, ", ")})
		} else if len(in.Content) > 0 {
			payload, perrs := qr.Payload(*in.Type, in.Content)
			for _, e := range perrs {
				errs = append(errs, snapglyph.FieldError{Field: e.Field, Message: e.Message})
			}
			if len(perrs) == 0 {
				q.Type, q.Content, q.Payload = *in.Type, canonicalJSON(in.Content), payload
			}
		}
	}
	if len(in.Design) > 0 {
		errs = append(errs, decodeDesign(d, in.Design)...)
	}
	d.Normalize()
	var busy error
	decode := func(b []byte) (*qr.Logo, error) {
		l, err := s.DecodeLogo(b)
		if errors.Is(err, ErrRenderBusy) {
			busy = err
		}
		return l, err
	}
	for _, e := range d.ValidateWith(decode) {
		errs = append(errs, snapglyph.FieldError{Field: e.Field, Message: e.Message})
	}
	if busy != nil {
		return nil, busy
	}
	q.Design = snapglyph.QRDesign{Foreground: d.Foreground, Background: d.Background, ErrorCorrection: d.ErrorCorrection, Margin: d.Margin}
	q.Logo, q.LogoType = d.Logo, ""
	if len(d.Logo) > 0 {
		q.LogoType = http.DetectContentType(d.Logo)
	}
	return errs, nil
}

// decodeDesign applies a partial design object over d. Unknown fields and
// wrong types are reported by their path.
func decodeDesign(d *qr.Design, raw json.RawMessage) []snapglyph.FieldError {
	// An empty colour or level would be read as its default: on a change,
	// {"errorCorrection": ""} reset a Q code to M without a word.
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		var errs []snapglyph.FieldError
		for _, name := range []string{"foreground", "background", "errorCorrection"} {
			if string(bytes.TrimSpace(fields[name])) == `""` {
				errs = append(errs, snapglyph.FieldError{Field: "design." + name, Message: "must not be empty: leave it out to keep it (on a create: for its default)"})
			}
		}
		if errs != nil {
			return errs
		}
	}
	decode := func(raw []byte) error {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		return dec.Decode(d)
	}
	err := decode(raw)
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field == "margin" && strings.HasPrefix(te.Value, "number") {
		// Only an integer literal is read as one: 4.0, 4e0 and 1e-400
		// are refused, not rounded (1e-400 would be 0 as a float64, and
		// 3.9999999999999999 would be 4). -0 is an integer literal: 0.
		return []snapglyph.FieldError{{Field: "design.margin", Message: fmt.Sprintf(
			"must be a whole number of modules from 0 to %d, written as one: 4, not 4.0 or 4e0", qr.MaxMargin)}}
	}
	if err != nil {
		return []snapglyph.FieldError{{Field: "design" + jsonErrorPath(err), Message: jsonErrorMessage(err)}}
	}
	return nil
}

// checkFits encodes the payload to make sure it fits in a QR code at the
// error-correction level.
func checkFits(payload, level string) error {
	_, err := qr.Encode(payload, level)
	var tl *qr.TooLongError
	if errors.As(err, &tl) {
		fix := "shorten it or choose a lower level (L holds the most)"
		if tl.Level == "L" {
			fix = "shorten it (L is the lowest level, which holds the most)"
		}
		return &snapglyph.Error{Kind: snapglyph.EUNPROCESSABL, Code: "content_too_long",
			Message: fmt.Sprintf("the content needs %d bytes, but a QR code with error correction %s holds at most %d; %s", tl.Got, tl.Level, tl.Max, fix),
			Fields:  []snapglyph.FieldError{{Field: "content", Message: fmt.Sprintf("at most %d bytes at error correction %s", tl.Max, tl.Level)}}}
	}
	return err
}

func invalidFields(errs []snapglyph.FieldError) error {
	names := make([]string, 0, len(errs))
	for _, e := range errs {
		names = append(names, e.Field)
	}
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request",
		Message: "the request has invalid fields: " + strings.Join(slices.Compact(names), ", "), Fields: errs}
}

// jsonErrorPath and jsonErrorMessage describe a decoding error of a JSON
// object by field, for EINVALID field lists.
func jsonErrorPath(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return "." + te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "." + strings.Trim(f, `"`)
	}
	var be base64.CorruptInputError
	if errors.As(err, &be) {
		return ".logo" // the design's only binary field
	}
	return ""
}

func jsonErrorMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "logo" {
			return "must be a base64-encoded PNG or JPEG file"
		}
		return "must be " + jsonKind(te.Type.Kind().String())
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "is not a known field"
	}
	if strings.Contains(err.Error(), "illegal base64") {
		return "must be a base64-encoded PNG or JPEG file"
	}
	return "is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	}
	return "an object"
}
