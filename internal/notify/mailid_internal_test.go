package notify

import (
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestNoticeMailID: a notice's mail is named the same each time it is
// sent (so a copy sent again can be dropped), and differently from any
// other notice's — another organisation's with the same number, and one
// numbered again after a database was restored from a backup (same
// number, made later).
func TestNoticeMailID(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	n := &snapglyph.Notice{ID: 42, CreatedAt: at}
	id := noticeMailID("org_a", n)
	if again := noticeMailID("org_a", &snapglyph.Notice{ID: 42, CreatedAt: at, Mail: snapglyph.MailSending}); again != id {
		t.Errorf("the same notice: %q, then %q", id, again)
	}
	for _, other := range []string{
		noticeMailID("org_a", &snapglyph.Notice{ID: 43, CreatedAt: at}),
		noticeMailID("org_b", n),
		noticeMailID("org_a", &snapglyph.Notice{ID: 42, CreatedAt: at.Add(time.Hour)}), // after a restore
	} {
		if other == id {
			t.Errorf("another notice is named %q too", id)
		}
	}
}
