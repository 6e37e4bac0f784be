package service_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// tintedLogo is a 64×64 PNG logo of one colour, as base64.
func tintedLogo(t *testing.T, tint uint8) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.SetNRGBA(x, y, color.NRGBA{tint, 0x40, 0x80, 0xFF})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func logoInput(name, logo string) service.QRInput {
	typ := "url"
	return service.QRInput{Name: &name, Type: &typ, Content: []byte(`{"url":"https://example.com/` + name + `"}`),
		Design: []byte(`{"errorCorrection":"H","logo":"` + logo + `"}`)}
}

// TestCreateDecodesLogoInRenderSlot: creating or updating a code decodes
// its logo in a render slot (none free: ErrRenderBusy, nothing stored)
// and through the logo cache (a logo decoded before needs no slot).
func TestCreateDecodesLogoInRenderSlot(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		svc.SetImageOptions(service.ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: 1, RenderWait: 0})
		org, owner := account(t, db, snapglyph.PlanPro)
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		release, err := svc.AcquireRender()
		if err != nil {
			t.Fatal(err)
		}
		logo := tintedLogo(t, 0x10)
		if _, err := svc.CreateQRCode(ctx, by, org.ID, logoInput("busy", logo)); !errors.Is(err, service.ErrRenderBusy) {
			t.Fatalf("create with every slot taken: %v, want ErrRenderBusy", err)
		}
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 0 {
			t.Fatalf("a refused create stored %d codes", n)
		}
		release()
		first, err := svc.CreateQRCode(ctx, by, org.ID, logoInput("first", logo))
		if err != nil {
			t.Fatal(err)
		}
		// The same logo again, every slot taken: decoded from the cache.
		release, err = svc.AcquireRender()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := svc.CreateQRCode(ctx, by, org.ID, logoInput("second", logo)); err != nil {
			t.Fatalf("create with a cached logo and no free slot: %v", err)
		}
		name := "renamed"
		if _, err := svc.UpdateQRCode(ctx, by, org.ID, first.ID, service.QRInput{Name: &name}); err != nil {
			t.Fatalf("update keeping a cached logo, no free slot: %v", err)
		}
		other := tintedLogo(t, 0x20)
		if _, err := svc.UpdateQRCode(ctx, by, org.ID, first.ID, service.QRInput{Design: []byte(`{"logo":"` + other + `"}`)}); !errors.Is(err, service.ErrRenderBusy) {
			t.Fatalf("update to a new logo with every slot taken: %v, want ErrRenderBusy", err)
		}
		if q, err := db.QRCode(ctx, org.ID, first.ID); err != nil || q.Name != "renamed" || base64.StdEncoding.EncodeToString(q.Logo) != logo {
			t.Fatalf("a refused update changed the code: %v", err)
		}
	})
}

// TestRenderSeesLogoChanged: a code read without its logo whose logo is
// replaced before the image is drawn is not drawn with the new logo under
// the old logo's key: ECONFLICT qr_code_changed, and the code read again
// draws.
func TestRenderSeesLogoChanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanPro)
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		c, err := svc.CreateQRCode(ctx, by, org.ID, logoInput("changing", tintedLogo(t, 0x10)))
		if err != nil {
			t.Fatal(err)
		}
		old, err := svc.QRCodeWithoutLogo(ctx, by, org.ID, c.ID)
		if err != nil || old.Logo != nil || old.LogoSHA256 != c.LogoSHA256 || !old.HasLogo() {
			t.Fatalf("read without logo: %v, logo %d bytes, hash %q want %q", err, len(old.Logo), old.LogoSHA256, c.LogoSHA256)
		}
		if _, err := svc.UpdateQRCode(ctx, by, org.ID, c.ID, service.QRInput{Design: []byte(`{"logo":"` + tintedLogo(t, 0x30) + `"}`)}); err != nil {
			t.Fatal(err)
		}
		svc.SetImageOptions(service.DefaultImageOptions()) // nothing cached
		if _, err := svc.RenderQRCode(ctx, old, "png", 300); snapglyph.ErrorCode(err) != "qr_code_changed" {
			t.Fatalf("render after the logo changed: %v, want qr_code_changed", err)
		}
		now, err := svc.QRCodeWithoutLogo(ctx, by, org.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		img, err := svc.RenderQRCode(ctx, now, "png", 300)
		if err != nil {
			t.Fatal(err)
		}
		full, err := svc.QRCode(ctx, by, org.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tag, _ := svc.ImageTag(full, "png", 300); tag != img.ETag {
			t.Errorf("tag %s from the hash, %s from the logo", img.ETag, tag)
		}
	})
}
