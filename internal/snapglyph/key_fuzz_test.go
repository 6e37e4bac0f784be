package snapglyph

import (
	"crypto/sha256"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// fullKey is what a leaked key looks like in any text.
var fullKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

var keyShape = regexp.MustCompile(`^qr_live_[A-Za-z0-9]{32}$`)

// wellFormed is an oracle for CheckKey written from DESIGN §3 without the
// package's helpers: the prefix, 32 base62 characters, and a checksum that
// is the base62 CRC-32 (IEEE) of the first 34 characters, 6 digits wide.
func wellFormed(s string) bool {
	if !keyShape.MatchString(s) {
		return false
	}
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	c := crc32.ChecksumIEEE([]byte(s[:34]))
	want := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		want[i] = digits[c%62]
		c /= 62
	}
	return s[34:] == string(want)
}

// FuzzCheckKey checks the key parser against the oracle on any input: it
// never panics, accepts exactly the well-formed keys, refuses the rest as
// malformed_api_key without repeating the input, and every one-character
// change of an accepted key is refused (the checksum catches typos).
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{
		"", "qr_", "qr_live_", "qr_test_0123456789abcdefghijklmnopqrstuv", "QR_LIVE_",
		GenerateKey(), GenerateKey() + " ", " " + GenerateKey(), GenerateKey()[:39],
		"qr_live_\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"qr_live_ééééééééééééééééé\xff\xfe", "qr_" + strings.Repeat("x", 20) + "_" + strings.Repeat("a", 40),
		"qr__" + strings.Repeat("k", 10000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckKey(s)
		if want := wellFormed(s); (err == nil) != want {
			t.Fatalf("CheckKey(%q) = %v, oracle says well-formed = %v", s, err, want)
		}
		if DigestKey(s) != KeyDigest(sha256.Sum256([]byte(s))) {
			t.Fatalf("DigestKey(%q) is not the SHA-256 of the key", s)
		}
		if err != nil {
			if ErrorKind(err) != EUNAUTHORIZED || ErrorCode(err) != "malformed_api_key" {
				t.Fatalf("CheckKey(%q): code %s reason %s, want EUNAUTHORIZED malformed_api_key", s, ErrorKind(err), ErrorCode(err))
			}
			msg := err.Error()
			if !utf8.ValidString(msg) || len(msg) > 300 {
				t.Fatalf("CheckKey(%q): message not valid UTF-8 or too long: %q", s, msg)
			}
			// At most the scheme-like start ("qr_xxxx_", 16 bytes) is quoted back.
			if len(s) > 20 && strings.Contains(msg, s[:20]) {
				t.Fatalf("CheckKey(%q): the message repeats the input: %q", s, msg)
			}
			if fullKey.MatchString(msg) {
				t.Fatalf("CheckKey(%q): a full key in the message %q", s, msg)
			}
			return
		}
		if KeyDisplayPrefix(s) != s[:12] {
			t.Fatalf("KeyDisplayPrefix(%q) = %q", s, KeyDisplayPrefix(s))
		}
		for i := len(KeyPrefix); i < KeyLen; i++ {
			b := []byte(s)
			b[i] = base62[(strings.IndexByte(base62, s[i])+1+i)%62]
			if CheckKey(string(b)) == nil {
				t.Fatalf("CheckKey accepted %q, a one-character change of %q", b, s)
			}
		}
	})
}
