package service

import "testing"

// TestCSVCellDropsControlCharacters: an entry recorded before control
// characters were dropped on the way in (an ESC sequence in its user
// agent, a line break in its resource id) reaches the CSV export without
// them, and a formula's first character is still escaped.
func TestCSVCellDropsControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"curl/8.5":                "curl/8.5",
		"qr_\x1b]0;owned\x07":     "qr_]0;owned",
		"qr_a\nfake 200 line":     "qr_afake 200 line",
		"\x1b=cmd|' /C calc'!A0":  "'=cmd|' /C calc'!A0",
		"agent\u009b2J\u202eevil": "agent2Jevil",
		"\xff\xfe":                "\ufffd\ufffd",
		"-1+1":                    "'-1+1",
		"\ttab first":             "tab first",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}
