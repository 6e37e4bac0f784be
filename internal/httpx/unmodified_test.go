package httpx

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestUnmodifiedSinceFails: If-Unmodified-Since fails when the change is
// at or after the date (the mirror of If-Modified-Since), counts only
// without If-Match, and an invalid or repeated date is no condition.
func TestUnmodifiedSinceFails(t *testing.T) {
	changed := time.Date(2026, 11, 15, 12, 0, 0, 300e6, time.UTC)
	for _, c := range []struct {
		name    string
		headers []string
		fails   bool
	}{
		{"none", nil, false},
		{"long ago", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, true},
		{"the second of the change", []string{"If-Unmodified-Since", "Sun, 15 Nov 2026 12:00:00 GMT"}, true},
		{"its end", []string{"If-Unmodified-Since", "Sun, 15 Nov 2026 12:00:01 GMT"}, false},
		{"later", []string{"If-Unmodified-Since", "Sun, 15 Nov 2026 13:00:00 GMT"}, false},
		{"obsolete format", []string{"If-Unmodified-Since", "Monday, 01-Jan-01 00:00:00 GMT"}, true},
		{"invalid", []string{"If-Unmodified-Since", "yesterday"}, false},
		{"a list", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT, Mon, 01 Jan 2001 00:00:00 GMT"}, false},
		{"twice", []string{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT", "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, false},
		{"with If-Match", []string{"If-Match", `"v1"`, "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, false},
		{"with a blank If-Match", []string{"If-Match", " ", "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, true},
	} {
		r := httptest.NewRequest("PATCH", "/", nil)
		for i := 0; i+1 < len(c.headers); i += 2 {
			r.Header.Add(c.headers[i], c.headers[i+1])
		}
		if got := UnmodifiedSinceFails(r, changed); got != c.fails {
			t.Errorf("%s: %v, want %v", c.name, got, c.fails)
		}
	}
	r := httptest.NewRequest("PATCH", "/", nil)
	r.Header.Set("If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
	if UnmodifiedSinceFails(r, time.Time{}) {
		t.Error("a representation without a modification time failed the condition")
	}
}
