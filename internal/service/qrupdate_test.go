package service_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestUpdateQRCodeUnchanged: a change that leaves the code as it would be
// stored (name, type, content as stored, payload, design, logo) writes
// nothing: the version, updatedAt and the stored row stay, no qr.updated
// event is recorded, and the code is answered as it is. The precondition
// is still checked. Any difference in what is stored is a change.
func TestUpdateQRCodeUnchanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc, clock, org, by, updated := qrUpdateEnv(t, db)
		logo := tintedLogo(t, 0x10)
		saved, err := svc.CreateQRCode(ctx, by, org.ID, logoInput("menu", logo))
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(time.Minute))

		for _, c := range []struct {
			name string
			in   service.QRInput
		}{
			{"Nothing", service.QRInput{}},
			{"SameName", service.QRInput{Name: ptr("menu")}},
			{"SameNameSpaced", service.QRInput{Name: ptr(" menu\t")}},
			{"SameType", service.QRInput{Type: ptr("url")}},
			{"SameContentSpaced", service.QRInput{Content: []byte("{ \"url\" :\n\"https://example.com/menu\" }")}},
			{"SameTypeAndContent", service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com/menu"}`)}},
			{"EmptyDesign", service.QRInput{Design: []byte(`{}`)}},
			{"SameDesignOtherCase", service.QRInput{Design: []byte(`{"foreground":"#000000","background":"#ffffff","errorCorrection":"h","margin":4}`)}},
			{"SameLogo", service.QRInput{Design: []byte(`{"logo":"` + logo + `"}`)}},
			{"Everything", service.QRInput{Name: ptr("menu"), Type: ptr("url"), Content: []byte(`{"url":"https://example.com/menu"}`),
				Design: []byte(`{"foreground":"#000000","background":"#FFFFFF","errorCorrection":"H","margin":4,"logo":"` + logo + `"}`)}},
		} {
			t.Run("OK"+c.name, func(t *testing.T) {
				q, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, c.in)
				if err != nil {
					t.Fatal(err)
				}
				if q.Version != 1 || !q.UpdatedAt.Equal(saved.UpdatedAt) || q.Name != "menu" || q.LogoType != "image/png" {
					t.Fatalf("answered version %d, updated %s, %q, logo %q; want the code as saved", q.Version, q.UpdatedAt, q.Name, q.LogoType)
				}
				now, err := db.QRCode(ctx, org.ID, saved.ID)
				if err != nil {
					t.Fatal(err)
				}
				if now.Version != 1 || !now.UpdatedAt.Equal(saved.UpdatedAt) || string(now.Content) != string(saved.Content) {
					t.Fatalf("stored: version %d, updated %s, content %s", now.Version, now.UpdatedAt, now.Content)
				}
				// The precondition still decides.
				stale := func(*snapglyph.QRCode) error {
					return snapglyph.Codef(snapglyph.EPRECONDITION, "precondition_failed", "stale")
				}
				if _, err := svc.UpdateQRCodeIf(ctx, by, org.ID, saved.ID, c.in, stale); snapglyph.ErrorKind(err) != snapglyph.EPRECONDITION {
					t.Fatalf("no-op under a failing precondition: %v, want EPRECONDITION", err)
				}
			})
		}
		if n := updated(); n != 0 {
			t.Fatalf("%d qr.updated events for no changes", n)
		}

		// Changes: each moves the version once and is recorded.
		for i, c := range []struct {
			name string
			in   service.QRInput
		}{
			{"Name", service.QRInput{Name: ptr("Menu")}},
			{"Margin", service.QRInput{Design: []byte(`{"margin":3}`)}},
			{"Logo", service.QRInput{Design: []byte(`{"logo":"` + tintedLogo(t, 0x20) + `"}`)}},
			{"NoLogo", service.QRInput{Design: []byte(`{"logo":null}`)}},
			{"Content", service.QRInput{Content: []byte(`{"url":"https://example.com/menu2"}`)}},
		} {
			clock.Set(t0.Add(time.Duration(2+i) * time.Minute))
			q, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, c.in)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if q.Version != int64(2+i) || !q.UpdatedAt.Equal(clock.Now()) {
				t.Fatalf("%s: version %d, updated %s; want %d, %s", c.name, q.Version, q.UpdatedAt, 2+i, clock.Now())
			}
			// The same change again is none.
			if q, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, c.in); err != nil || q.Version != int64(2+i) {
				t.Fatalf("%s again: version %d, %v; want %d", c.name, q.Version, err, 2+i)
			}
		}
		if n := updated(); n != 5 {
			t.Fatalf("%d qr.updated events, want 5", n)
		}
	})
}

// TestUpdateQRCodeNulls: the fields a JSON body sent as null (Nulls) are
// refused on a change, with the other bad fields, and nothing is changed;
// inside the design, null is refused but for the logo's, which removes
// it.
func TestUpdateQRCodeNulls(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanPro)
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		saved, err := svc.CreateQRCode(ctx, by, org.ID, logoInput("menu", tintedLogo(t, 0x10)))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			in     service.QRInput
			fields []string
		}{
			{"ErrName", service.QRInput{Nulls: []string{"name"}}, []string{"name"}},
			{"ErrType", service.QRInput{Nulls: []string{"type"}}, []string{"type"}},
			{"ErrContent", service.QRInput{Nulls: []string{"content"}}, []string{"content"}},
			{"ErrDesign", service.QRInput{Nulls: []string{"design"}}, []string{"design"}},
			{"ErrNewTypeNullContent", service.QRInput{Type: ptr("text"), Nulls: []string{"content"}}, []string{"content"}},
			{"ErrWithOthers", service.QRInput{Name: ptr(""), Nulls: []string{"content"}}, []string{"content", "name"}},
			{"ErrDesignField", service.QRInput{Design: []byte(`{"margin":null,"logo":null,"background":null}`)}, []string{"design.background", "design.margin"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, c.in)
				e, ok := err.(*snapglyph.Error)
				if !ok || e.Kind != snapglyph.EINVALID || e.Code != "invalid_request" {
					t.Fatalf("%v, want EINVALID invalid_request", err)
				}
				var fields []string
				for _, f := range e.Fields {
					fields = append(fields, f.Field)
					if slices.Contains(c.in.Nulls, f.Field) || strings.HasPrefix(f.Field, "design.") {
						if !strings.HasPrefix(f.Message, "must not be null") {
							t.Errorf("%s: %q", f.Field, f.Message)
						}
					}
				}
				if !slices.Equal(fields, c.fields) {
					t.Fatalf("fields %q, want %q", fields, c.fields)
				}
			})
		}
		q, err := db.QRCode(ctx, org.ID, saved.ID)
		if err != nil || q.Version != 1 || q.LogoType == "" {
			t.Fatalf("refused changes changed the code: %v, version %d, logo %q", err, q.Version, q.LogoType)
		}
		// Preview agrees with the update it stands for.
		if _, err := svc.PreviewQRCode(ctx, by, org.ID, saved.ID, service.QRInput{Design: []byte(`{"margin":null}`)}); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("preview of a null margin: %v, want EINVALID", err)
		}
		if q, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, service.QRInput{Design: []byte(`{"logo":null}`)}); err != nil || q.LogoType != "" || q.Version != 2 {
			t.Fatalf(`"logo": null: %v, logo %q, version %d`, err, q.LogoType, q.Version)
		}
	})
}

// TestConcurrentChangesOfOneCodeAllLand: 80 unconditional renames of one
// code at once, in one process, all succeed (they used to collide at the
// write and, after five tries, some answered 409 qr_code_changed): each
// is applied in turn, and the version counts every one.
func TestConcurrentChangesOfOneCodeAllLand(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanMax)
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		saved, err := svc.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: ptr("menu"), Type: ptr("text"), Content: []byte(`{"text":"x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		const n = 80
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, service.QRInput{Name: ptr(fmt.Sprintf("menu %d", i))})
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		q, err := svc.QRCode(ctx, by, org.ID, saved.ID)
		if err != nil || q.Version != 1+n {
			t.Fatalf("version %d (%v) after %d renames, want %d", q.Version, err, n, 1+n)
		}
	})
}

// TestUpdateQRCodeContentEscapes: content is stored with its strings and
// keys decoded and written again without needless escapes, so the same
// values sent with other escapes (Python's json.dumps escapes non-ASCII,
// PHP's json_encode "/") are no change: no new version, no qr.updated
// event. A row stored before, with its client's escapes, is compared by
// its values too; a real change still moves the version, and the payload
// is the text the values spell however they were escaped.
func TestUpdateQRCodeContentEscapes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc, clock, org, by, updated := qrUpdateEnv(t, db)
		const canonical = `{"text":"éA https://example.com/ 😀 <&>"}`
		const payload = "éA https://example.com/ 😀 <&>"
		saved, err := svc.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: ptr("Café"), Type: ptr("text"),
			Content: []byte(`{"\u0074ext":"\u00e9A https:\/\/example.com\/ \ud83d\ude00 \u003c&>"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if string(saved.Content) != canonical || saved.Payload != payload {
			t.Fatalf("created with content %s, payload %q; want %s, %q", saved.Content, saved.Payload, canonical, payload)
		}
		stored, err := db.QRCode(ctx, org.ID, saved.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(stored.Content) != canonical {
			t.Fatalf("stored content %s, want %s", stored.Content, canonical)
		}

		resends := []string{
			canonical,
			`{"text":"\u00e9A https://example.com/ \ud83d\ude00 <&>"}`,                   // Python's json.dumps
			`{"text":"\u00E9A https:\/\/example.com\/ \uD83D\uDE00 \u003C\u0026\u003E"}`, // PHP's json_encode, HTML-safe
			`{"te\u0078t":"\u00e9\u0041 https:\/\/example.com\/ 😀 <&>"}`,
		}
		noop := func(version int64, content string) {
			t.Helper()
			for _, c := range resends {
				for _, merge := range []bool{true, false} {
					q, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, service.QRInput{Content: []byte(c), MergeContent: merge})
					if err != nil {
						t.Fatalf("resend %s: %v", c, err)
					}
					if q.Version != version || q.Payload != payload {
						t.Fatalf("resend %s (merge %v): version %d, payload %q; want %d, %q", c, merge, q.Version, q.Payload, version, payload)
					}
				}
			}
			now, err := db.QRCode(ctx, org.ID, saved.ID)
			if err != nil {
				t.Fatal(err)
			}
			if now.Version != version || string(now.Content) != content {
				t.Fatalf("after the resends: version %d, content %s; want %d, %s", now.Version, now.Content, version, content)
			}
		}
		noop(1, canonical)
		if n := updated(); n != 0 {
			t.Fatalf("%d qr.updated events for resends of the same values", n)
		}

		// A row stored with its client's escapes, as before they were
		// dropped: the same values are still no change.
		clock.Set(t0.Add(time.Minute))
		const escaped = `{"text":"\u00e9A https:\/\/example.com\/ \ud83d\ude00 \u003c\u0026\u003e"}`
		stored.Content = []byte(escaped)
		if err := db.UpdateQRCode(ctx, stored); err != nil {
			t.Fatal(err)
		}
		noop(2, escaped)
		if n := updated(); n != 1 {
			t.Fatalf("%d qr.updated events, want 1 (the row's own write)", n)
		}

		// A real change, escaped, moves the version and is stored without
		// the escapes.
		clock.Set(t0.Add(2 * time.Minute))
		q, err := svc.UpdateQRCode(ctx, by, org.ID, saved.ID, service.QRInput{Content: []byte(`{"text":"\u00e9B"}`), MergeContent: true})
		if err != nil {
			t.Fatal(err)
		}
		if q.Version != 3 || string(q.Content) != `{"text":"éB"}` || q.Payload != "éB" {
			t.Fatalf("changed: version %d, content %s, payload %q; want 3, {\"text\":\"éB\"}, \"éB\"", q.Version, q.Content, q.Payload)
		}
		if n := updated(); n != 2 {
			t.Fatalf("%d qr.updated events, want 2", n)
		}
	})
}

// qrUpdateEnv is a Max organisation whose webhook wants qr.updated, on a
// test clock at t0: the service, the clock, the organisation, its Owner
// as a creator, and the count of qr.updated events recorded so far.
func qrUpdateEnv(t *testing.T, db *testdb.DB) (*service.Service, *testdb.Clock, *snapglyph.Org, snapglyph.Creator, func() int) {
	t.Helper()
	ctx := context.Background()
	clock := testdb.NewClock(t0)
	db.Now = clock.Now
	svc := service.New(db.DB)
	org, owner := account(t, db, snapglyph.PlanMax)
	by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
	svc.Webhooks.AllowInsecureLocal = true
	if _, err := svc.CreateWebhook(ctx, snapglyph.Actor{UserID: owner.ID, Label: owner.Email}, org.ID, "http://127.0.0.1:9/hook", []string{snapglyph.EventQRUpdated}); err != nil {
		t.Fatal(err)
	}
	updated := func() int {
		t.Helper()
		evs, err := db.Events(ctx, org.ID, snapglyph.EventQRUpdated, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	return svc, clock, org, by, updated
}
