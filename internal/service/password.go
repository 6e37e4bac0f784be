package service

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// argon2id parameters (RFC 9106's second recommended option, with 64 MiB).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// MinPasswordLen is the shortest password accepted, MaxPasswordBytes the
// longest, and MinPasswordChars how many different characters it needs.
const (
	MinPasswordLen   = 10
	MaxPasswordBytes = 1024
	MinPasswordChars = 4
)

// PasswordProblem says why a new password is refused, or "" if it is
// not: it must be text (valid UTF-8, no NUL: what a browser can send),
// have MinPasswordLen characters and at most MaxPasswordBytes bytes, not
// be only white space, and have MinPasswordChars different characters
// (so one character repeated, "abababab…" or "1212121212" are refused).
// The rules are the same wherever a password is set: sign-up, an
// invitation, a change, the operator's commands.
func PasswordProblem(password string) string {
	if !utf8.ValidString(password) || strings.IndexByte(password, 0) >= 0 {
		return "a password must be text: no NUL character, and valid UTF-8"
	}
	if len(password) > MaxPasswordBytes {
		return fmt.Sprintf("a password has at most %d bytes; this one has %d", MaxPasswordBytes, len(password))
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Sprintf("a password needs at least %d characters", MinPasswordLen)
	}
	if strings.TrimFunc(password, unicode.IsSpace) == "" {
		return "a password cannot be only spaces"
	}
	seen := map[rune]bool{}
	for _, r := range password {
		seen[r] = true
	}
	if len(seen) < MinPasswordChars {
		return fmt.Sprintf("a password needs at least %d different characters; one or two characters repeated are guessed at once", MinPasswordChars)
	}
	return ""
}

// HashPassword returns the argon2id hash of password in the PHC string
// format. Returns EINVALID for a password PasswordProblem refuses.
func HashPassword(password string) (string, error) {
	if msg := PasswordProblem(password); msg != "" {
		return "", snapglyph.Codef(snapglyph.EINVALID, "weak_password", "%s", msg)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// CheckPassword reports whether password matches hash, in constant time.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
