package snapglyph

import (
	"hash/crc32"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

var keyPattern = regexp.MustCompile(`^qr_live_[A-Za-z0-9]{32}$`)

func TestGenerateKey(t *testing.T) {
	seen := make(map[string]bool)
	counts := make(map[byte]int)
	for i := 0; i < 2000; i++ {
		k := GenerateKey()
		if !keyPattern.MatchString(k) {
			t.Fatalf("key %q does not match %s", k, keyPattern)
		}
		if err := CheckKey(k); err != nil {
			t.Fatalf("a generated key fails its own check: %v", err)
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
		for j := len(KeyPrefix); j < len(KeyPrefix)+KeyRandomLen; j++ {
			counts[k[j]]++
		}
	}
	// 52,000 random characters over 62 symbols: each should appear about
	// 839 times. Modulo bias (256 % 62 = 8) would push the first eight
	// symbols up by about a quarter; allow a wide margin for chance.
	if len(counts) != 62 {
		t.Fatalf("only %d of 62 symbols appear", len(counts))
	}
	for c, n := range counts {
		if n < 650 || n > 1030 {
			t.Errorf("symbol %q appears %d times, want about 839", c, n)
		}
	}
}

func TestCheckKey(t *testing.T) {
	good := GenerateKey()
	typo := []byte(good)
	if typo[20] == 'a' {
		typo[20] = 'b'
	} else {
		typo[20] = 'a'
	}
	tests := []struct {
		name, key, want string // want: part of the message; "" = valid
	}{
		{"OK", good, ""},
		{"test key", "qr_test_" + good[8:], `this one starts with "qr_test_"`},
		{"no prefix", good[8:], `start with "qr_live_"`},
		{"39 characters", good[:39], "this one has 39"},
		{"41 characters", good + "x", "this one has 41"},
		{"bad character", good[:30] + "-" + good[31:], "character 31"},
		{"typo", string(typo), "checksum does not match"},
		{"empty", "", `start with "qr_live_"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckKey(tt.key)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckKey: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckKey accepted a bad key")
			}
			if ErrorCode(err) != "malformed_api_key" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckKey = %v, want malformed_api_key mentioning %q", err, tt.want)
			}
			if len(tt.key) > 12 && strings.Contains(err.Error(), tt.key[8:]) {
				t.Fatal("the error repeats the key")
			}
		})
	}
}

func TestCheckKeyAllocs(t *testing.T) {
	k := GenerateKey()
	if n := testing.AllocsPerRun(100, func() { CheckKey(k); DigestKey(k) }); n != 0 {
		t.Fatalf("CheckKey+DigestKey allocate %v times, want 0", n)
	}
}

// TestNormalizeOrgName: an organisation's name is one line of visible
// text (it is shown in mail and notices): line breaks and other runs of
// spaces are one space, control and invisible characters are refused.
func TestNormalizeOrgName(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{" Acme GmbH ", "Acme GmbH", ""},
		{"Org\r\nBcc: victim@evil.test", "Org Bcc: victim@evil.test", ""},
		{"Acme\t\u00a0 Ltd", "Acme Ltd", ""},
		{"Cafe\u0301", "Caf\u00e9", ""},
		{strings.Repeat("é", 100), strings.Repeat("é", 100), ""},
		{strings.Repeat("é", 101), "", "1 to 100 characters"},
		{"  ", "", "1 to 100 characters"},
		{"\x1b[31mRed", "", "control characters"},
		{"Ac\u200bme", "", "invisible characters (U+200B)"},
		{"\u202eemcA", "", "invisible characters (U+202E)"},
		{"A\x00B", "", "NUL"},
		{"A\xffB", "", "UTF-8"},
	} {
		got, err := NormalizeOrgName(tt.in)
		if tt.err != "" {
			if err == nil || ErrorKind(err) != EINVALID || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "organisation name") {
				t.Errorf("NormalizeOrgName(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeOrgName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeKeyName(t *testing.T) {
	key := GenerateKey()
	tests := []struct{ in, want, err string }{
		{"  Production-WebApp ", "Production-WebApp", ""},
		{"", "", "required"},
		{"   ", "", "required"},
		{strings.Repeat("é", 64), strings.Repeat("é", 64), ""},
		{strings.Repeat("a", 65), "", "65 characters"},
		{"tab\there", "tab here", ""}, // spaces of every kind become one space
		{"Production  \u00a0 WebApp", "Production WebApp", ""},
		{"Production-WebApp\u200b", "", "invisible"},
		{"\u202eppAbeW", "", "U+202E"},
		{"a\x00b", "", "NUL"},
		{"a\x07b", "", "control"},
		{"\xffname", "", "UTF-8"},
		{"Caf\u0065\u0301", "Caf\u00e9", ""}, // one spelling of é
		{"\u3164", "", "U+3164"},             // a Hangul filler shows as nothing
		{"A-Pro\u034fd", "", "invisible"},
		{"\u2800", "", "invisible"},
		// A key pasted as a name would be shown to everyone.
		{key, "", "may not hold an API key"},
		{"Prod " + key[len(KeyPrefix):], "", "may not hold an API key"},
		{"qr_live_prod", "qr_live_prod", ""},     // no key: no checksum to hold
		{key[:len(key)-1], key[:len(key)-1], ""}, // one character short
	}
	for _, tt := range tests {
		got, err := NormalizeKeyName(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || ErrorKind(err) != EINVALID {
				t.Errorf("NormalizeKeyName(%q) = %q, %v; want EINVALID mentioning %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeKeyName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestKeyNameFold(t *testing.T) {
	for _, alike := range []string{"a-prod", "A-PROD", "A\u2010Prod", "A\u2014Prod", "A\u2212Prod", "\uff21-Prod", "A\uff0dProd", "A-P\uff52od",
		"\u0410-Prod",      // Cyrillic А
		"A-\u0420r\u043ed", // Cyrillic Р and о
		"\u0391-\u03a1ROD", // Greek Α and Ρ
		"A-PR\u039fD",      // Greek Ο
	} {
		if KeyNameFold(alike) != KeyNameFold("A-Prod") {
			t.Errorf("%q and A-Prod fold apart", alike)
		}
	}
	// Every look-alike in both its cases, against the Latin letter.
	for r, l := range latinLookalikes {
		for _, c := range []rune{r, unicode.ToUpper(r)} {
			if got := KeyNameFold("Key-" + string(c)); got != "key-"+string(l) {
				t.Errorf("KeyNameFold(%q) = %q; want key-%c", "Key-"+string(c), got, l)
			}
		}
	}
	for _, other := range []string{"A Prod", "A_Prod", "AProd", "A-Prod2", "A-\u041f\u0440\u043e\u0434"} { // Cyrillic Прод is another word
		if KeyNameFold(other) == KeyNameFold("A-Prod") {
			t.Errorf("%q and A-Prod fold together", other)
		}
	}
}

func TestKeyNameHint(t *testing.T) {
	for _, n := range []string{"Key 1", "Test", "API", "Key", "key", " test "} {
		if KeyNameHint(n) == "" {
			t.Errorf("no hint for the generic name %q", n)
		}
	}
	for _, n := range []string{"Production-WebApp", "Dev-Testing", "Mobile-iOS-App", "Zapier-Integration"} {
		if h := KeyNameHint(n); h != "" {
			t.Errorf("hint for the good name %q: %s", n, h)
		}
	}
}

func TestPeriod(t *testing.T) {
	tests := []struct {
		at           time.Time
		name, resets string
	}{
		{time.Date(2026, 11, 30, 23, 59, 59, 999, time.UTC), "2026-11", "2026-12-01T00:00:00Z"},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "2026-12", "2027-01-01T00:00:00Z"},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), "2026-12", "2027-01-01T00:00:00Z"},
		// 00:30 on the 1st in UTC+2 is still the previous month in UTC.
		{time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("x", 2*3600)), "2026-12", "2027-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		name, resets := Period(tt.at)
		if name != tt.name || resets.Format(time.RFC3339) != tt.resets {
			t.Errorf("Period(%v) = %s, %v; want %s, %s", tt.at, name, resets, tt.name, tt.resets)
		}
	}
}

func TestOrgHasAPI(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		org  Org
		want bool
	}{
		{Org{Plan: PlanStarter}, false},
		{Org{Plan: PlanPro}, true},
		{Org{Plan: PlanMax}, true},
		{Org{Plan: PlanTrial, TrialEndsAt: now.Add(time.Second)}, true},
		{Org{Plan: PlanTrial, TrialEndsAt: now}, false},
	}
	for _, tt := range tests {
		if got := tt.org.HasAPI(now); got != tt.want {
			t.Errorf("%s (trial ends %v): HasAPI = %v, want %v", tt.org.Plan, tt.org.TrialEndsAt, got, tt.want)
		}
	}
}

func TestChecksumMatchesCRC32(t *testing.T) {
	for _, s := range []string{"", "a", "qr_live_abcdefghijklmnopqrstuvwxyz"} {
		if got, want := checksum(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("checksum(%q) = %x, want %x", s, got, want)
		}
	}
}
