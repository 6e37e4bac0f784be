package service_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// sameRefusal reports how two refusals differ ("" when they do not): the
// same kind, API code and field problems, in order.
func sameRefusal(a, b error) string {
	var ea, eb *snapglyph.Error
	if !errors.As(a, &ea) || !errors.As(b, &eb) {
		if a == nil && b == nil {
			return ""
		}
		return "one is not a snapglyph.Error: " + errString(a) + " | " + errString(b)
	}
	if ea.Kind != eb.Kind || ea.Code != eb.Code || !slices.Equal(ea.Fields, eb.Fields) {
		return errString(a) + " " + fieldString(ea.Fields) + " | " + errString(b) + " " + fieldString(eb.Fields)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func fieldString(fs []snapglyph.FieldError) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Field+" "+f.Message)
	}
	return "[" + strings.Join(s, "; ") + "]"
}

func ptr(s string) *string { return &s }

// TestPreviewQRCode: a preview refuses what saving refuses, with the same
// problems (but for the name, which it does not check), draws what saving
// stores (the preview of an input is the image of the code saved from it,
// new or changed), stores nothing, and keeps to the organisation.
func TestPreviewQRCode(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanPro)
		other, stranger := account(t, db, snapglyph.PlanPro)
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		logo := tintedLogo(t, 0x20)

		inputs := []struct {
			name string
			in   service.QRInput
		}{
			{"OK", service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com/a"}`)}},
			{"OKDesign", service.QRInput{Type: ptr("text"), Content: []byte(`{"text":"hi"}`), Design: []byte(`{"foreground":"#1E3A8A","margin":2,"errorCorrection":"Q"}`)}},
			{"OKLogo", service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com/b"}`), Design: []byte(`{"errorCorrection":"H","logo":"` + logo + `"}`)}},
			{"ErrNoType", service.QRInput{Content: []byte(`{"url":"https://example.com"}`)}},
			{"ErrNoContent", service.QRInput{Type: ptr("url")}},
			{"ErrType", service.QRInput{Type: ptr("gif"), Content: []byte(`{}`)}},
			{"ErrContent", service.QRInput{Type: ptr("wifi"), Content: []byte(`{"ssid":"","security":"WPA","password":"short"}`)}},
			{"ErrDesign", service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com"}`), Design: []byte(`{"foreground":"#dddddd","margin":"lots","shape":"round"}`)}},
			{"ErrLogoLevel", service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com"}`), Design: []byte(`{"errorCorrection":"M","logo":"` + logo + `"}`)}},
			{"ErrLogo", service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com"}`), Design: []byte(`{"errorCorrection":"H","logo":"R0lGODlh"}`)}},
			{"ErrText", service.QRInput{Type: ptr("text"), Content: []byte(`{"text":"a\u0000b"}`)}},
			{"ErrTooLong", service.QRInput{Type: ptr("text"), Content: []byte(`{"text":"` + strings.Repeat("x", 1300) + `"}`), Design: []byte(`{"errorCorrection":"H"}`)}},
		}
		for _, c := range inputs {
			t.Run("New"+c.name, func(t *testing.T) {
				// The name is not checked: none, or a bad one.
				for _, name := range []*string{nil, ptr(strings.Repeat("n", 101))} {
					in := c.in
					in.Name = name
					img, perr := s.PreviewQRCode(ctx, by, org.ID, "", in)
					in.Name = ptr("Saved " + c.name)
					q, serr := s.CreateQRCode(ctx, by, org.ID, in)
					if d := sameRefusal(perr, serr); d != "" {
						t.Fatalf("preview and create differ: %s", d)
					}
					if serr != nil {
						continue
					}
					compareImage(t, s, img, q)
					if err := s.DeleteQRCode(ctx, by, org.ID, q.ID); err != nil {
						t.Fatal(err)
					}
				}
			})
		}

		saved, err := s.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: ptr("Saved"), Type: ptr("url"),
			Content: []byte(`{"url":"https://example.com/saved"}`), Design: []byte(`{"errorCorrection":"H","logo":"` + logo + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		changes := append(inputs, []struct {
			name string
			in   service.QRInput
		}{
			{"OKNothing", service.QRInput{}},
			{"OKKeepsLogo", service.QRInput{Content: []byte(`{"url":"https://example.com/kept"}`)}},
			{"OKRemovesLogo", service.QRInput{Design: []byte(`{"logo":null,"errorCorrection":"L"}`)}},
			{"ErrLevelWithSavedLogo", service.QRInput{Design: []byte(`{"errorCorrection":"M"}`)}},
			{"ErrTypeWithoutContent", service.QRInput{Type: ptr("text")}},
		}...)
		for _, c := range changes {
			t.Run("Edit"+c.name, func(t *testing.T) {
				before, err := s.QRCode(ctx, by, org.ID, saved.ID)
				if err != nil {
					t.Fatal(err)
				}
				img, perr := s.PreviewQRCode(ctx, by, org.ID, saved.ID, c.in)
				if after, _ := s.QRCode(ctx, by, org.ID, saved.ID); !after.UpdatedAt.Equal(before.UpdatedAt) || after.Payload != before.Payload || after.LogoSHA256 != before.LogoSHA256 {
					t.Fatalf("the preview changed the code")
				}
				q, serr := s.UpdateQRCode(ctx, by, org.ID, saved.ID, c.in)
				if d := sameRefusal(perr, serr); d != "" {
					t.Fatalf("preview and update differ: %s", d)
				}
				if serr == nil {
					compareImage(t, s, img, q)
				}
			})
		}

		if n, err := s.CountQRCodes(ctx, by, org.ID); err != nil || n != 1 {
			t.Errorf("%d codes (%v), want the 1 saved: previews store nothing", n, err)
		}
		// Another organisation's member, or another organisation's code:
		// not found.
		in := service.QRInput{Type: ptr("url"), Content: []byte(`{"url":"https://example.com"}`)}
		strangerBy := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: stranger.ID, Name: stranger.Email}
		if _, err := s.PreviewQRCode(ctx, strangerBy, org.ID, "", in); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("a stranger's preview: %v, want ENOTFOUND", err)
		}
		if _, err := s.PreviewQRCode(ctx, strangerBy, other.ID, saved.ID, in); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("a preview of another organisation's code: %v, want ENOTFOUND", err)
		}
		if _, err := s.CountQRCodes(ctx, strangerBy, org.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("a stranger's count: %v, want ENOTFOUND", err)
		}

		// No render slot and nothing cached: busy, and nothing drawn.
		s.SetImageOptions(service.ImageOptions{CacheBytes: 1 << 20, LogoCacheBytes: 1 << 20, Renders: 1, RenderWait: 0})
		release, err := s.AcquireRender()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := s.PreviewQRCode(ctx, by, org.ID, "", in); !errors.Is(err, service.ErrRenderBusy) {
			t.Errorf("preview with no render slot: %v, want ErrRenderBusy", err)
		}
	})
}

// compareImage checks that a preview is the image of the saved code: SVG,
// or PNG of the default size with a logo, the same bytes and ETag.
func compareImage(t *testing.T, s *service.Service, preview *service.Image, q *snapglyph.QRCode) {
	t.Helper()
	format := "svg"
	if q.HasLogo() {
		format = "png"
	}
	img, err := s.RenderQRCode(context.Background(), q, format, 0)
	if err != nil {
		t.Fatal(err)
	}
	if preview.ContentType != img.ContentType || preview.ETag != img.ETag || string(preview.Data) != string(img.Data) {
		t.Errorf("the preview is %s %s (%d bytes), the saved code's image %s %s (%d bytes)",
			preview.ContentType, preview.ETag, len(preview.Data), img.ContentType, img.ETag, len(img.Data))
	}
}
