package service

import (
	"context"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// PreviewQRCode draws the QR code that in describes, storing nothing, for
// a form's live preview: as CreateQRCode would create it, or, with id, as
// UpdateQRCode would change that code (so a design without "logo" keeps
// the saved logo). The name is not drawn, so it is neither required nor
// checked. The image is SVG, or a PNG of the default size when the design
// has a logo; it comes from the image cache, so a form previewed at every
// keystroke draws each state once.
//
// Returns what CreateQRCode and UpdateQRCode return for bad input
// (EINVALID listing every bad field, EUNPROCESSABL content_too_long),
// ENOTFOUND for an id the organisation has not (or a stranger), and
// ErrRenderBusy when the node is drawing all it can.
func (s *Service) PreviewQRCode(ctx context.Context, by snapglyph.Creator, orgID, id string, in QRInput) (*Image, error) {
	if err := s.authorizeQR(ctx, by, orgID); err != nil {
		return nil, err
	}
	in.Name = nil
	var q *snapglyph.QRCode
	var d qr.Design
	var err error
	if id == "" {
		q, d, err = s.checkNew(by, orgID, in, false)
	} else if q, err = s.db.QRCode(ctx, orgID, id); err == nil {
		d, err = s.checkChange(q, in)
	}
	if err != nil {
		return nil, err
	}
	format := "svg"
	if len(d.Logo) > 0 {
		format = "png"
	}
	return s.Render(q.Payload, d, format, qr.DefaultSize)
}
