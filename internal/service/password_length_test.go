package service_test

import (
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
)

// TestPasswordTooLong (review 4 #5): a password over MaxPasswordBytes was
// told it "needs at least 10 characters". It is told the most, in bytes,
// and how many it has; a multi-byte text counts in bytes (650 characters,
// 1040 bytes).
func TestPasswordTooLong(t *testing.T) {
	for _, tt := range []struct {
		name, password, want string
	}{
		{"OK1024", strings.Repeat("abcd", 256), ""},
		{"Err1025", strings.Repeat("abcd", 256) + "e", "a password has at most 1024 bytes; this one has 1025"},
		{"Err2004", strings.Repeat("x", 2000) + "abcd", "a password has at most 1024 bytes; this one has 2004"},
		{"ErrMultiByte", strings.Repeat("żółw ", 130), "a password has at most 1024 bytes; this one has 1040"},
		{"ErrShort", "short", "a password needs at least 10 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := service.PasswordProblem(tt.password); got != tt.want {
				t.Errorf("PasswordProblem = %q, want %q", got, tt.want)
			}
		})
	}
}
