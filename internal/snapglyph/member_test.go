package snapglyph_test

import (
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

func TestInvitationErr(t *testing.T) {
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	pending := snapglyph.Invitation{OrgName: "Acme", ExpiresAt: now.Add(time.Second)}
	for _, c := range []struct {
		name string
		edit func(*snapglyph.Invitation)
		code string // "" = pending
	}{
		{"Pending", func(*snapglyph.Invitation) {}, ""},
		{"Accepted", func(i *snapglyph.Invitation) { i.AcceptedAt = now.Add(-time.Hour) }, "invitation_used"},
		{"Cancelled", func(i *snapglyph.Invitation) { i.CancelledAt = now.Add(-time.Hour) }, "invitation_cancelled"},
		{"ExpiresNow", func(i *snapglyph.Invitation) { i.ExpiresAt = now }, "invitation_expired"},
		{"AcceptedBeatsExpired", func(i *snapglyph.Invitation) { i.AcceptedAt, i.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour) }, "invitation_used"},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv := pending
			c.edit(&inv)
			err := inv.Err(now)
			if got := snapglyph.ErrorCode(err); got != c.code || (err != nil) != (c.code != "") {
				t.Fatalf("Err = %v (code %q), want code %q", err, got, c.code)
			}
			if err != nil && snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
				t.Fatalf("kind %q, want conflict", snapglyph.ErrorKind(err))
			}
			if inv.Pending(now) != (c.code == "") {
				t.Fatalf("Pending = %v, but Err = %v", inv.Pending(now), err)
			}
		})
	}
}

func TestRoleName(t *testing.T) {
	for r, want := range map[snapglyph.Role]string{snapglyph.RoleOwner: "Owner", snapglyph.RoleAdmin: "Admin", snapglyph.RoleMember: "Member", "": ""} {
		if got := snapglyph.RoleName(r); got != want {
			t.Errorf("RoleName(%q) = %q, want %q", r, got, want)
		}
	}
}
