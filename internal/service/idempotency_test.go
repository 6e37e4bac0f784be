package service_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestIdempotentAnswerRecordedWithTheCode: the first answer of an
// idempotent create is made from the code as stored and recorded in the
// create's transaction, so it is there as soon as the code is: no second
// write can fail and leave retries to see the code as it is later.
// Retries get it even after the code is deleted.
func TestIdempotentAnswerRecordedWithTheCode(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		s := service.New(db.DB)
		org, owner, err := s.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		name, typ := "Menu", "url"
		in := service.QRInput{Name: &name, Type: &typ, Content: []byte(`{"url":"https://example.com/menu"}`)}
		var made *snapglyph.QRCode
		first := &snapglyph.Idempotency{Key: "order-1", RequestHash: "h1", Response: func(q *snapglyph.QRCode) []byte {
			made = q
			return []byte(`{"id":"` + q.ID + `","version":` + strconv.FormatInt(q.Version, 10) + `}`)
		}}
		c, err := s.CreateQRCodeOnce(ctx, by, org.ID, in, first)
		if err != nil || c.Replayed || made == nil || made.ID != c.QR.ID || made.CreatedAt.IsZero() {
			t.Fatalf("create: %+v, %v; the answer was made from %+v", c, err, made)
		}
		want := `{"id":"` + c.QR.ID + `","version":1}`
		if err := s.DeleteQRCode(ctx, by, org.ID, c.QR.ID); err != nil {
			t.Fatal(err)
		}
		retry := &snapglyph.Idempotency{Key: "order-1", RequestHash: "h1", Response: func(*snapglyph.QRCode) []byte { return []byte("a second answer") }}
		again, err := s.CreateQRCodeOnce(ctx, by, org.ID, in, retry)
		if err != nil || !again.Replayed || again.QR.ID != c.QR.ID || string(again.FirstResponse) != want {
			t.Fatalf("retry after a delete: %+v (%q), %v; want the first answer %q", again, again.FirstResponse, err, want)
		}
	})
}
