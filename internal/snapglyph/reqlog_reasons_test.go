package snapglyph_test

import (
	"slices"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestEntryReasonsSayHow: an entry refused for a key no longer in use
// says how ("key paused", "key revoked", "key expired") where its code
// tells, and "key not active" otherwise.
func TestEntryReasonsSayHow(t *testing.T) {
	for _, c := range []struct {
		code  string
		flags snapglyph.RequestLogFlags
		want  []string
	}{
		{"api_key_paused", snapglyph.FlagInactiveKey, []string{"key paused"}},
		{"api_key_revoked", snapglyph.FlagInactiveKey | snapglyph.FlagNewIP, []string{"key revoked", "new IP address"}},
		{"api_key_expired", snapglyph.FlagInactiveKey | snapglyph.FlagBurst, []string{"key expired", "burst of refusals"}},
		{"", snapglyph.FlagInactiveKey, []string{"key not active"}},
		{"api_key_paused", snapglyph.FlagNewIP, []string{"new IP address"}},
	} {
		e := &snapglyph.RequestLogEntry{Code: c.code, Flags: c.flags}
		if got := e.Reasons(); !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %q, want %q", c.code, c.flags.Names(), got, c.want)
		}
	}
}
