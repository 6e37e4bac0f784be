package store

import (
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// PostgreSQL refuses a statement (and aborts its transaction) over a NUL
// character or bytes that are not UTF-8 in a text parameter. Every
// boundary checks what clients send (snapglyph.CheckText) or cleans what
// it records (snapglyph.Storable); as a last line of defence the store
// never sends such text to either database: a bad byte becomes U+FFFD. A
// lookup by such a value then finds nothing, and a write stores valid
// text, instead of failing a transaction that holds other rows.

// cleanArgs returns args with every string made valid text. It returns
// args itself, without allocating, when there is nothing to clean.
func cleanArgs(args []any) []any {
	out := args
	for i, a := range args {
		s, ok := a.(string)
		if !ok || snapglyph.TextProblem(s) == "" {
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any(nil), args...)
		}
		out[i] = cleanText(s)
	}
	return out
}

// cleanText replaces invalid bytes and NUL characters by U+FFFD.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
