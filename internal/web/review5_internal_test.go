package web

import "testing"

// TestSentenceKeepsEmail: a message that begins with an email address or
// a number keeps its first word as written.
func TestSentenceKeepsEmail(t *testing.T) {
	for in, want := range map[string]string{
		"owner@acme.test is already a member of the organisation": "owner@acme.test is already a member of the organisation.",
		"the key name is required":                                "The key name is required.",
		"3 keys are paused":                                       "3 keys are paused.",
		"":                                                        "",
		"done!":                                                   "Done!",
	} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}
