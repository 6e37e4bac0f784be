package snapglyph

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRedactKeys(t *testing.T) {
	key := GenerateKey()
	bare := strings.TrimPrefix(key, KeyPrefix)
	for _, tt := range []struct{ in, want string }{
		{"acme-sdk/1.0", "acme-sdk/1.0"},
		{"qr_FJ9V1pYfmsmOtK8rZPDM", "qr_FJ9V1pYfmsmOtK8rZPDM"},
		{key, key[:12] + "…"},
		{"sdk " + key + " tail", "sdk " + key[:12] + "… tail"},
		{strings.ToUpper(KeyPrefix) + bare, KeyPrefix + bare[:4] + "…"},
		{"id=" + bare + ";", "id=…;"},
		{key + key, key[:12] + "…_live_…"}, // the second key read bare
		{"qr_live_ab", "qr_live_ab"},
		{strings.Repeat("a", 32), strings.Repeat("a", 32)}, // no valid checksum
		{"x" + key + "/" + bare, "x" + key[:12] + "…/…"},
		// A key's body within a longer run of letters and digits, or
		// after a percent-encoded prefix.
		{"key=" + bare + "x", "key=…"},
		{"curl/8 x" + bare, "curl/8 …"},
		{"qr%5Flive%5F" + bare, "qr%5Flive%…"},
		{"A1" + bare + "B2 tail", "… tail"},
	} {
		if got := RedactKeys(tt.in); got != tt.want {
			t.Errorf("RedactKeys(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(RedactKeys(tt.in), bare) {
			t.Errorf("RedactKeys(%q) keeps the key", tt.in)
		}
	}
	if n := testing.AllocsPerRun(100, func() { RedactKeys("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36") }); n != 0 {
		t.Errorf("%v allocations for text without a key", n)
	}
	run := strings.Repeat("a", 300)
	if n := testing.AllocsPerRun(100, func() { RedactKeys(run) }); n != 0 {
		t.Errorf("%v allocations for a long run without a key", n)
	}
}

// TestStorableRedacted: a key is cut however the text around it is made
// storable (a NUL inside it cannot put it back together once NULs are
// dropped), and only as much of a long text as can be kept is read.
func TestStorableRedacted(t *testing.T) {
	key := GenerateKey()
	bare := strings.TrimPrefix(key, KeyPrefix)
	for _, in := range []string{
		"sdk " + key,
		"sdk " + key[:20] + "\x00" + key[20:],
		"sdk " + bare[:10] + "\x00" + bare[10:],
		strings.Repeat("é", 100) + key, // the key begins at byte 200, within the 256 kept
		strings.Repeat("x", 250) + key, // only its first bytes fit
	} {
		got := StorableRedacted(in, 256)
		if len(got) > 256 || strings.Contains(got, bare[:8]) || strings.Contains(got, "\x00") {
			t.Errorf("StorableRedacted(%q) = %q", in, got)
		}
	}
	if got := StorableRedacted("acme-sdk/2.1", 256); got != "acme-sdk/2.1" {
		t.Errorf("a user agent without a key came back as %q", got)
	}
	// A byte that is not UTF-8 becomes U+FFFD (three bytes): the rest of
	// the text is still kept, up to the limit.
	if got := StorableRedacted("UAtest1\xff\xfe/5.0 tail", 256); got != "UAtest1\ufffd\ufffd/5.0 tail" {
		t.Errorf("a user agent with bytes that are not UTF-8 came back as %q", got)
	}
	long := strings.Repeat("a", 64<<10)
	if got := StorableRedacted(long, 256); got != long[:256] {
		t.Errorf("a 64 KiB run came back %d bytes long", len(got))
	}
}

func TestRequestID(t *testing.T) {
	at := time.Date(2026, 11, 15, 12, 0, 0, 123_000_000, time.UTC)
	id := NewRequestID(at)
	if len(id) != 24 || !strings.HasPrefix(id, fmt.Sprintf("%012x", at.UnixMilli())) {
		t.Fatalf("request id %q", id)
	}
	if got, ok := RequestIDTime(id); !ok || !got.Equal(at) {
		t.Fatalf("RequestIDTime(%q) = %s, %v", id, got, ok)
	}
	if other := NewRequestID(at); other == id || other[:12] != id[:12] {
		t.Errorf("two ids of one moment: %s %s", id, other)
	}
	for _, bad := range []string{"", "0123456789abcdef", strings.ToUpper(id), id + "0", "019a87a3d35b-0000000000"} {
		if _, ok := RequestIDTime(bad); ok {
			t.Errorf("RequestIDTime(%q) read a time", bad)
		}
	}
}

// TestParseLogTime: a duration ago, else an instant as ParseTime reads
// it; anything else is refused naming the field.
func TestParseLogTime(t *testing.T) {
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"2026-11-15T10:00:00+02:00": time.Date(2026, 11, 15, 8, 0, 0, 0, time.UTC),
		"2026-11-15T10:00":          time.Date(2026, 11, 15, 10, 0, 0, 0, time.UTC),
		"2026-11-15T10:00:05":       time.Date(2026, 11, 15, 10, 0, 5, 0, time.UTC),
		" 2026-11-14 ":              time.Date(2026, 11, 14, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseLogTime("from", in, now)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseLogTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "0d", "-5m", "2026-13-01"} {
		_, err := ParseLogTime("from", in, now)
		var e *Error
		if !errors.As(err, &e) || e.Kind != EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "from" {
			t.Errorf("ParseLogTime(%q) = %v; want EINVALID naming from", in, err)
		}
	}
}

// TestStorableShown: a resource id the request log shows keeps, as
// escapes, the characters Storable drops (a request for "\u202ex" is not
// shown as one for "x"), never grows past its bound nor cuts an escape in
// two, and when dropping them would join an API key it is kept as
// StorableRedacted keeps it: the key cut to its prefix.
func TestStorableShown(t *testing.T) {
	key := GenerateKey()
	split := key[:20] + "\u200b" + key[20:]
	for _, tt := range []struct{ in, want string }{
		{"qr_FJ9V1pYfmsmOtK8rZPDM", "qr_FJ9V1pYfmsmOtK8rZPDM"},
		{"\u202ex", `\u202ex`},
		{"qr_\x00x\x1b[31m", `qr_\u0000x\u001b[31m`},
		{"a\u200bb\u2066c", `a\u200bb\u2066c`},
		{"bad\xffbyte", "bad\uFFFDbyte"},
		{"menu\u202etxt", `menu\u202etxt`},
		{"line1\u2028200 GET /api/v1/usage\u2029x", `line1\u2028200 GET /api/v1/usage\u2029x`},
		{split, StorableRedacted(split, 128)},
		{key, StorableRedacted(key, 128)},
	} {
		if got := StorableShown(tt.in, 128); got != tt.want {
			t.Errorf("StorableShown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := StorableShown(split, 128); strings.Contains(got, key[8:20]) && strings.Contains(got, key[20:]) {
		t.Errorf("a key split by a zero-width space is kept whole in %q", got)
	}
	long := strings.Repeat("\u202e", 100)
	got := StorableShown(long, 128)
	if len(got) > 128 || len(got)%6 != 0 || !strings.HasPrefix(got, `\u202e`) {
		t.Errorf("StorableShown of 100 overrides: %d bytes, %q…", len(got), got[:min(len(got), 24)])
	}
}
