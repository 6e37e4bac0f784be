package snapglyph_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

func TestParseScopes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // the stored form; "" with wantErr
		wantErr string
	}{
		{in: "qr_codes:read", want: "qr_codes:read"},
		{in: "images:read, qr_codes:read", want: "qr_codes:read,images:read"},
		{in: "usage:read qr_codes:write\nqr_codes:write", want: "qr_codes:write,usage:read"},
		{in: "QR_CODES:READ", want: "qr_codes:read"},
		{in: "qr_codes:read,qr_codes:write,images:read,usage:read", want: "qr_codes:read,qr_codes:write,images:read,usage:read"},
		{in: "", wantErr: "at least one permission"},
		{in: " , ,", wantErr: "at least one permission"},
		{in: "qr_codes:admin", wantErr: `unknown permission "qr_codes:admin"`},
		{in: "*", wantErr: "unknown permission"},
		{in: "qr_codes:read,\xff", wantErr: "not valid UTF-8"},
		{in: "qr\x00codes:read", wantErr: "NUL"},
		{in: strings.Repeat("x", 10_000), wantErr: "unknown permission"},
	} {
		ss, err := snapglyph.ParseScopes(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || snapglyph.ErrorKind(err) != snapglyph.EINVALID {
				t.Errorf("ParseScopes(%.40q) = %v, %v; want an EINVALID error containing %q", tc.in, ss, err, tc.wantErr)
			}
			if err != nil && len(err.Error()) > 300 {
				t.Errorf("ParseScopes(%.40q): the error grows with the input (%d bytes)", tc.in, len(err.Error()))
			}
			continue
		}
		if err != nil || ss.String() != tc.want || ss.Full() {
			t.Errorf("ParseScopes(%q) = %q, %v; want %q", tc.in, ss.String(), err, tc.want)
		}
		back, err := snapglyph.ParseStoredScopes(ss.String())
		if err != nil || back != ss {
			t.Errorf("stored form %q reads back as %v, %v", ss.String(), back, err)
		}
	}
	if ss, err := snapglyph.ParseStoredScopes(""); err != nil || !ss.Full() {
		t.Errorf("the stored empty form is %v, %v; want full access", ss, err)
	}
	if _, err := snapglyph.ParseStoredScopes("qr_codes:delete"); err == nil {
		t.Error("an unknown stored permission read as a restriction (or as full access)")
	}
}

func TestScopesAllow(t *testing.T) {
	all := []snapglyph.Scope{snapglyph.ScopeQRRead, snapglyph.ScopeQRWrite, snapglyph.ScopeImagesRead, snapglyph.ScopeUsageRead}
	for _, s := range all {
		if !snapglyph.FullAccess.Allows(s) {
			t.Errorf("full access does not allow %s", s)
		}
	}
	ss, _ := snapglyph.ParseScopes("qr_codes:write,images:read")
	for _, s := range all {
		want := s == snapglyph.ScopeQRWrite || s == snapglyph.ScopeImagesRead
		if ss.Allows(s) != want {
			t.Errorf("%s allows %s: %v, want %v (write must not imply read)", ss, s, ss.Allows(s), want)
		}
	}
	if ss.Label() != "qr_codes:write, images:read" || snapglyph.FullAccess.Label() != "Full access" {
		t.Errorf("labels %q, %q", ss.Label(), snapglyph.FullAccess.Label())
	}
}

func TestParseAllowedIPs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // stored form
		wantErr string
	}{
		{in: "203.0.113.7", want: "203.0.113.7"},
		{in: "203.0.113.0/24, 2001:db8::/32", want: "203.0.113.0/24,2001:db8::/32"},
		{in: "203.0.113.0/24 203.0.113.0/24\n198.51.100.1", want: "203.0.113.0/24,198.51.100.1"},
		{in: "::ffff:192.0.2.1", want: "192.0.2.1"},
		{in: "::ffff:192.0.2.0/120", want: "192.0.2.0/24"},
		{in: "2001:DB8::1", want: "2001:db8::1"},
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "203.0.113.5/24", wantErr: "did you mean 203.0.113.0/24"},
		{in: "fe80::1%eth0", wantErr: "zone"},
		{in: "example.com", wantErr: "not an IPv4 or IPv6 address"},
		{in: "10.0.0.0/33", wantErr: "not a CIDR range"},
		{in: "::ffff:1.2.3.4/64", wantErr: "IPv4-mapped"},
		{in: "", wantErr: "at least one IP address"},
		{in: "1.2.3.4,\xfe", wantErr: "UTF-8"},
		{in: "1.2.3.\x004", wantErr: "NUL"},
		{in: strings.Repeat("9", 5000), wantErr: "not an IPv4"},
	} {
		ips, err := snapglyph.ParseAllowedIPs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || snapglyph.ErrorKind(err) != snapglyph.EINVALID {
				t.Errorf("ParseAllowedIPs(%.40q) = %v, %v; want an error containing %q", tc.in, ips, err, tc.wantErr)
			}
			if err != nil && len(err.Error()) > 300 {
				t.Errorf("ParseAllowedIPs(%.40q): the error grows with the input", tc.in)
			}
			continue
		}
		if got := snapglyph.FormatAllowedIPs(ips); err != nil || got != tc.want {
			t.Errorf("ParseAllowedIPs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		back, err := snapglyph.ParseStoredAllowedIPs(snapglyph.FormatAllowedIPs(ips))
		if err != nil || snapglyph.FormatAllowedIPs(back) != tc.want {
			t.Errorf("stored form %q reads back as %v, %v", tc.want, back, err)
		}
	}
	var many []string
	for i := 0; i < snapglyph.MaxAllowedIPs; i++ {
		many = append(many, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).String())
	}
	if ips, err := snapglyph.ParseAllowedIPList(many); err != nil || len(ips) != snapglyph.MaxAllowedIPs {
		t.Errorf("%d entries: %v, %v", len(many), len(ips), err)
	}
	if _, err := snapglyph.ParseAllowedIPList(append(many, "10.0.1.0/24")); err == nil || !strings.Contains(err.Error(), "at most 20") {
		t.Errorf("21 entries: %v", err)
	}
}

func TestIPAllowed(t *testing.T) {
	list, err := snapglyph.ParseAllowedIPs("203.0.113.0/24,2001:db8::/32,198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"203.0.113.0": true, "203.0.113.255": true, "203.0.114.0": false, "198.51.100.7": true, "198.51.100.8": false,
		"2001:db8::1": true, "2001:db8:ffff::1": true, "2001:db9::1": false, "::ffff:203.0.113.9": true,
		"fe80::1%eth0": false, "": false, "not-an-ip": false, "203.0.113.1:80": false, "::1": false, "127.0.0.1": false,
	} {
		if got := snapglyph.IPAllowed(list, ip); got != want {
			t.Errorf("IPAllowed(%q) = %v, want %v", ip, got, want)
		}
	}
	if !snapglyph.IPAllowed(nil, "anything") {
		t.Error("no allowlist must allow every address")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute,
		"1h30m": 90 * time.Minute, "0": 0, "0s": 0, " 7d ": 7 * 24 * time.Hour, "365d": 365 * 24 * time.Hour,
	} {
		if got, err := snapglyph.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "-1h", "30x", "1d-2h", "99999999999d", "1.5d", "\xffd", "30d\x00"} {
		if got, err := snapglyph.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
	// Beyond a century, however written: 30,501 weeks wrapped around to
	// three days, 15,251 to a negative duration.
	for _, in := range []string{"30501w", "15251w", "36601d", "36600d1h", "5229w", "100000w", "878401h", "36600d2562047h"} {
		if got, err := snapglyph.ParseDuration(in); err == nil || !strings.Contains(err.Error(), "at most 100 years") {
			t.Errorf("ParseDuration(%q) = %v, %v; want too long", in, got, err)
		}
	}
	if got, err := snapglyph.ParseDuration("36600d"); err != nil || got != 36600*24*time.Hour {
		t.Errorf("a century: %v, %v", got, err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2027-06-30T00:00:00Z":      time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		"2027-06-30T02:00:00+02:00": time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		"2027-06-30":                time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		" 2027-06-30 ":              time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
		"2027-06-30T09:15":          time.Date(2027, 6, 30, 9, 15, 0, 0, time.UTC),
		"2027-06-30T09:15:30":       time.Date(2027, 6, 30, 9, 15, 30, 0, time.UTC),
		"2027-06-30T09:15:30.25Z":   time.Date(2027, 6, 30, 9, 15, 30, 250e6, time.UTC),
	} {
		if got, err := snapglyph.ParseTime(in); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// Year 1 is how an unset time prints: read as "no time" it made a
	// key that never expires.
	for _, in := range []string{"", "tomorrow", "2027-13-01", "30/06/2027", "2027-06-30T25:00", "2027-06-30 09:15", "24h",
		"0001-01-01", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
		"2027-06-30\xff", "2027-06-30\x00", strings.Repeat("2027-06-30", 10000)} {
		if _, err := snapglyph.ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) succeeded", in)
		}
	}
}

// TestKeyState: revoked, then expired, then paused; a pause ends by itself
// at its end, and an overlap never outlives the expiry.
func TestKeyState(t *testing.T) {
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	hour := time.Hour
	for _, tc := range []struct {
		name string
		key  snapglyph.APIKey
		want snapglyph.KeyState
		code string
	}{
		{"active", snapglyph.APIKey{Status: snapglyph.KeyActive}, snapglyph.StateActive, ""},
		{"not yet expired", snapglyph.APIKey{Status: snapglyph.KeyActive, ExpiresAt: now.Add(time.Millisecond)}, snapglyph.StateActive, ""},
		{"expired at its moment", snapglyph.APIKey{Status: snapglyph.KeyActive, ExpiresAt: now}, snapglyph.StateExpired, "api_key_expired"},
		{"paused", snapglyph.APIKey{Status: snapglyph.KeyPaused}, snapglyph.StatePaused, "api_key_paused"},
		{"paused until later", snapglyph.APIKey{Status: snapglyph.KeyPaused, PausedUntil: now.Add(hour)}, snapglyph.StatePaused, "api_key_paused"},
		{"pause ended", snapglyph.APIKey{Status: snapglyph.KeyPaused, PausedUntil: now}, snapglyph.StateActive, ""},
		{"paused and expired", snapglyph.APIKey{Status: snapglyph.KeyPaused, ExpiresAt: now.Add(-hour)}, snapglyph.StateExpired, "api_key_expired"},
		{"revoked and expired", snapglyph.APIKey{Status: snapglyph.KeyRevoked, ExpiresAt: now.Add(-hour)}, snapglyph.StateRevoked, "api_key_revoked"},
		{"in overlap", snapglyph.APIKey{Status: snapglyph.KeyActive, ReplacedBy: "key_n", OverlapEndsAt: now.Add(hour)}, snapglyph.StateActive, ""},
		{"overlap over", snapglyph.APIKey{Status: snapglyph.KeyActive, ReplacedBy: "key_n", OverlapEndsAt: now}, snapglyph.StateExpired, "api_key_expired"},
		{"overlap past the expiry", snapglyph.APIKey{Status: snapglyph.KeyActive, ReplacedBy: "key_n", ExpiresAt: now, OverlapEndsAt: now.Add(hour)}, snapglyph.StateExpired, "api_key_expired"},
	} {
		k := tc.key
		k.Prefix, k.Name, k.ReplacedByPrefix = "qr_live_abcd", "Production-WebApp", "qr_live_wxyz"
		if got := k.StateAt(now); got != tc.want {
			t.Errorf("%s: state %s, want %s", tc.name, got, tc.want)
		}
		err := k.ErrAt(now)
		if snapglyph.ErrorCode(err) != tc.code {
			t.Errorf("%s: error %v, want code %q", tc.name, err, tc.code)
		}
		if tc.code == "api_key_expired" {
			msg := snapglyph.ErrorMessage(err)
			if !strings.Contains(msg, snapglyph.FormatTime(k.EndsAt())) {
				t.Errorf("%s: %q does not say when it expired", tc.name, msg)
			}
			if k.ReplacedBy != "" && !strings.Contains(msg, "qr_live_wxyz...") {
				t.Errorf("%s: %q does not name the key that replaced it", tc.name, msg)
			}
		}
	}
}

// TestErrAtAllocs: a usable key costs no allocation, with or without an
// expiry.
func TestErrAtAllocs(t *testing.T) {
	now := time.Now()
	keys := []*snapglyph.APIKey{
		{Status: snapglyph.KeyActive},
		{Status: snapglyph.KeyActive, ExpiresAt: now.Add(time.Hour)},
		{Status: snapglyph.KeyPaused, PausedUntil: now.Add(-time.Hour)},
		{Status: snapglyph.KeyActive, ReplacedBy: "key_x", OverlapEndsAt: now.Add(time.Hour)},
	}
	for _, k := range keys {
		if n := testing.AllocsPerRun(100, func() { _ = k.ErrAt(now) }); n != 0 {
			t.Errorf("%+v: %v allocations", k, n)
		}
	}
}

func TestCheckExpiry(t *testing.T) {
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	// Ten calendar years ahead (three leap days more than 3650 days).
	tenYears := time.Date(2036, 11, 15, 12, 0, 0, 0, time.UTC).Sub(now)
	for d, ok := range map[time.Duration]bool{
		time.Minute: true, 59 * time.Second: false, -time.Hour: false, snapglyph.MaxKeyLifetime: true,
		snapglyph.MaxKeyLifetime + time.Second: true, tenYears: true, tenYears + time.Second: false,
	} {
		if err := snapglyph.CheckExpiry(now.Add(d), now); (err == nil) != ok {
			t.Errorf("expiry in %v: %v", d, err)
		}
	}
	if snapglyph.CheckExpiry(time.Time{}, now) != nil {
		t.Error("no expiry refused")
	}
}

func TestNormalizeReason(t *testing.T) {
	if r, err := snapglyph.NormalizeReason("  suspicious traffic "); err != nil || r != "suspicious traffic" {
		t.Errorf("%q, %v", r, err)
	}
	for _, in := range []string{"a\nb", "\xff", "a\x00", strings.Repeat("é", 201), "ok\u009bevil", "a\u0085b", "a\u2028b", "abc\u202eevil", "a\u200bb"} {
		if _, err := snapglyph.NormalizeReason(in); err == nil {
			t.Errorf("%.20q accepted", in)
		}
	}
	if _, err := snapglyph.NormalizeReason(strings.Repeat("é", 200)); err != nil {
		t.Errorf("200 characters refused: %v", err)
	}
}

// TestFormatTime: an instant with seconds is shown with them (a key that
// expired at 06:57:45 did not expire at 06:57); a whole minute without.
func TestFormatTime(t *testing.T) {
	for at, want := range map[time.Time]string{
		time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC):                      "2027-06-30 00:00 UTC",
		time.Date(2026, 12, 3, 6, 57, 45, 500e6, time.UTC):                "2026-12-03 06:57:45 UTC",
		time.Date(2026, 12, 3, 7, 57, 45, 0, time.FixedZone("CET", 3600)): "2026-12-03 06:57:45 UTC",
		time.Date(2026, 12, 3, 6, 57, 0, 999e6, time.UTC):                 "2026-12-03 06:57 UTC",
	} {
		if got := snapglyph.FormatTime(at); got != want {
			t.Errorf("FormatTime(%s) = %q, want %q", at, got, want)
		}
	}
}
