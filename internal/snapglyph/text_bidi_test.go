package snapglyph

import (
	"strings"
	"testing"
)

// TestStorableDropsFormatCharacters: format characters (bidi overrides,
// embeddings, isolates and marks, zero-width spaces, a byte-order mark)
// are dropped as NUL is, also where they would split a key; other text
// outside ASCII is kept, without allocating.
func TestStorableDropsFormatCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"bidi\u202eevil":                  "bidievil",
		"\u2066isolated\u2069 \u200fmark": "isolated mark",
		"zero\u200bwidth\ufeff":           "zerowidth",
		"sdk\u202e\x00\xff":               "sdk\ufffd",
		"é 漢 🎉 \u00a0":                    "é 漢 🎉 \u00a0",
	} {
		if got := Storable(in, 256); got != want {
			t.Errorf("Storable(%q) = %q, want %q", in, got, want)
		}
	}
	// The cut counts what is kept.
	if got := Storable(strings.Repeat("\u202e", 100)+"abc", 3); got != "abc" {
		t.Errorf("cut: %q", got)
	}
	key := GenerateKey()
	split := key[:12] + "\u200b" + key[12:]
	if got := StorableRedacted("sdk "+split, 256); strings.Contains(got, key[12:]) || strings.ContainsRune(got, '\u200b') {
		t.Errorf("StorableRedacted kept a key split by a zero-width space: %q", got)
	}
	fine := "Mozilla/5.0 (Linux; Android 14) Пример/1.0 漢字"
	if n := testing.AllocsPerRun(100, func() { Storable(fine, 256) }); n != 0 {
		t.Errorf("%v allocations for a fine user agent outside ASCII", n)
	}
}

// TestIDProblemBidi: an id holding a control or format character is
// refused naming the field and the character, never repeating the id;
// ids of printable ASCII are not.
func TestIDProblemBidi(t *testing.T) {
	for _, id := range []string{"qr_\u202e", "qr_ab\u200bcd", "\u2066qr_abc", "qr_\x01", "qr_\x7f", "qr_\u2028"} {
		err := CheckID("id", id)
		e, ok := err.(*Error)
		if !ok || e.Kind != EINVALID || e.Fields[0].Field != "id" || strings.Contains(e.Message, id) {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"qr_8Kd93jfLq0ZtYw2mNc4P", "qr_nope", "", "é"} {
		if err := CheckID("id", id); err != nil {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
	if err := CheckPathIDs("GET /api/v1/qr-codes/{id}", func(string) string { return "qr_\u202e" }); err == nil {
		t.Error("CheckPathIDs let a right-to-left override through")
	}
	if err := CheckPathValues("GET /qr-codes/{id}", func(string) string { return "qr_\u202e" }); err != nil {
		t.Errorf("CheckPathValues changed: %v", err)
	}
}
