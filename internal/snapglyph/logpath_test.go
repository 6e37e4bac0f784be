package snapglyph

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLoggedPath(t *testing.T) {
	key := GenerateKey()
	bare := key[len("qr_live_"):]
	const token = "tok3nS3cr3tV4lu3xyz"
	cases := []struct{ in, want string }{
		{"/api/v1/usage", "/api/v1/usage"},
		{"/", "/"},
		{"/qr-codes/qr_8Kd93jfLq0ZtYw2mNc4P/edit", "/qr-codes/qr_8Kd93jfLq0ZtYw2mNc4P/edit"},
		{"/settings/company/invite", "/settings/company/invite"},
		{"/invite/" + token, "/invite/…"},
		{"//invite/" + token, "/invite/…"},
		{"/invite//" + token, "/invite/…"},
		{"/./invite/" + token, "/invite/…"},
		{"/api/../invite/" + token, "/invite/…"},
		{"/INVITE/" + token + "/accept", "/INVITE/…"},
		{"/api/v1/qr-codes/" + key, "/api/v1/qr-codes/" + key[:12] + "…"},
		{"/x/QR_LIVE_" + bare, "/x/qr_live_" + bare[:4] + "…"},
		{"/x/key=" + key + "/y", "/x/key=" + key[:12] + "…/y"},
		{"/api/v1/qr-codes/" + bare, "/api/v1/qr-codes/…"},
		{"/api/v1/qr-codes/x" + bare, "/api/v1/qr-codes/…"},
		{"/x/" + key + ".png", "/x/" + key[:12] + "….png"},
		{"/x/" + bare + "," + key, "/x/…," + key[:12] + "…"},
		{"/a\x00b\nc\x7f", "/a%00b%0Ac%7F"},
		{"/a\xffb", "/a\uFFFDb"},
		{"/é\u0085", "/é%C2%85"},
	}
	for _, c := range cases {
		if got := LoggedPath(c.in); got != c.want {
			t.Errorf("LoggedPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestLoggedPathHostile: whatever the path, the result is short, valid
// UTF-8 without control characters, and holds no key or token.
func TestLoggedPathHostile(t *testing.T) {
	key := GenerateKey()
	huge := "/" + strings.Repeat("é\x00\xff/", 800<<10/5)
	inputs := []string{
		huge,
		huge + "invite/secrettoken",
		strings.Repeat("/", 10000) + "invite/secrettoken",
		strings.Repeat("a", 199) + "é" + strings.Repeat("b", 1000),
		"/api/v1/" + strings.Repeat("x/", 60) + key,
		"/" + strings.Repeat("../", 1000) + "invite/secrettoken",
		"",
		"relative/invite/secrettoken",
	}
	for _, in := range inputs {
		got := LoggedPath(in)
		if len(got) > MaxLoggedPath+len("…") {
			t.Errorf("loggedPath of %d bytes is %d bytes", len(in), len(got))
		}
		if !utf8.ValidString(got) {
			t.Errorf("loggedPath gives invalid UTF-8: %q", got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("loggedPath keeps the control character %U: %q", r, got)
			}
		}
		if strings.Contains(got, "secrettoken") || strings.Contains(got, key) {
			t.Errorf("LoggedPath(%.40q…) = %q leaks a secret", in, got)
		}
	}
}

// TestLoggedPathNoAllocation: the common path costs nothing.
func TestLoggedPathNoAllocation(t *testing.T) {
	for _, p := range []string{"/api/v1/usage", "/api/v1/qr-codes/qr_8Kd93jfLq0ZtYw2mNc4P", "/healthz"} {
		if n := testing.AllocsPerRun(100, func() { LoggedPath(p) }); n != 0 {
			t.Errorf("LoggedPath(%q) allocates %v times", p, n)
		}
	}
}
