package snapglyph

import (
	"strings"
	"testing"
)

// TestPauseReasonHiddenMessage: "(line breaks included)" is said of
// control characters only, not of an invisible one such as U+202E.
func TestPauseReasonHiddenMessage(t *testing.T) {
	_, err := NormalizeReason("a\u202eb")
	if msg := ErrorMessage(err); !strings.Contains(msg, "invisible characters (U+202E)") || strings.Contains(msg, "line breaks") {
		t.Errorf("U+202E: %q", msg)
	}
	_, err = NormalizeReason("a\nb")
	if msg := ErrorMessage(err); !strings.Contains(msg, "control characters (line breaks included)") {
		t.Errorf("a line break: %q", msg)
	}
}
