package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// fieldsOf returns the fields an EINVALID error names.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var e *snapglyph.Error
	if !errors.As(err, &e) || e.Kind != snapglyph.EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
		if strings.ContainsRune(f.Message, 0) || !utf8.ValidString(f.Message) {
			t.Errorf("field %s: the message repeats the value: %q", f.Field, f.Message)
		}
	}
	return out
}

// TestTextThatCannotBeStored: names, emails and QR codes holding a NUL
// character or invalid UTF-8 are refused with EINVALID naming the field,
// on both stores (PostgreSQL would refuse the statement), and nothing is
// stored. A hostile user agent is kept, made storable.
func TestTextThatCannotBeStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)

		_, err := svc.SignUp(ctx, service.SignUp{Name: "Ada\x00", OrgName: "Acme\xff", Email: "ada\x00@acme.test", Password: testPassword}, web)
		if got := strings.Join(fieldsOf(t, err), ","); got != "name,org,email" {
			t.Errorf("sign-up names %s, want name,org,email", got)
		}
		if _, _, err := db.UserByEmail(ctx, "ada@acme.test"); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("a user was stored: %v", err)
		}
		for _, email := range []string{"ada\x00@acme.test", "ad\xffa@acme.test"} {
			if _, err := svc.SignIn(ctx, email, testPassword, web, ""); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
				t.Errorf("sign-in with %q: %v, want EINVALID", email, err)
			}
		}
		if _, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Ac\x00me", OwnerEmail: "o@acme.test"}); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("org create: %v, want EINVALID", err)
		}
		if _, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o\xff@acme.test"}); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("org create: %v, want EINVALID", err)
		}

		org, owner := account(t, db, snapglyph.PlanPro)
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email, IP: "203.0.113.5"}
		if _, err := svc.Invite(ctx, actor, org.ID, "bob\x00@acme.test", "member"); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("invite: %v, want EINVALID", err)
		}
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID}
		str := func(s string) *string { return &s }
		for _, c := range []struct {
			in    service.QRInput
			field string
		}{
			{service.QRInput{Name: str("Me\x00nu"), Type: str("url"), Content: json.RawMessage(`{"url":"https://example.com"}`)}, "name"},
			{service.QRInput{Name: str("Menu"), Type: str("text"), Content: json.RawMessage(`{"text":"a\u0000b"}`)}, "content.text"},
			{service.QRInput{Name: str("Card"), Type: str("vcard"), Content: json.RawMessage(`{"firstName":"Ada","emails":["a@b.test","c\u0000@d.test"]}`)}, "content.emails[1]"},
		} {
			_, err := svc.CreateQRCode(ctx, by, org.ID, c.in)
			if got := fieldsOf(t, err); !strings.Contains(strings.Join(got, ","), c.field) {
				t.Errorf("QR code: fields %v, want %s", got, c.field)
			}
		}
		if n, err := db.CountQRCodes(ctx, org.ID); err != nil || n != 0 {
			t.Errorf("%d QR codes stored (err %v)", n, err)
		}

		ns, err := svc.SignIn(ctx, owner.Email, testPassword, service.Client{IP: "203.0.113.5", UserAgent: "agent\x00\xff" + strings.Repeat("漢", 300)}, "")
		if err != nil {
			t.Fatalf("sign-in with a hostile user agent: %v", err)
		}
		if ua := ns.UserAgent; !utf8.ValidString(ua) || strings.IndexByte(ua, 0) >= 0 || len(ua) > 512 || !strings.HasPrefix(ua, "agent") {
			t.Errorf("session user agent %q", ua)
		}
	})
}
