package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryAuditActionHasALabel: each action the store writes to the
// audit log under a literal name reads as words in the dashboard's Audit
// log and on the key page, not as "webhook.secret_rotated".
func TestEveryAuditActionHasALabel(t *testing.T) {
	files, err := filepath.Glob("../store/*.go")
	if err != nil {
		t.Fatal(err)
	}
	// A literal followed by "+" is the start of a name made at run time
	// ("org.plan_request_" + status): some label must begin with it.
	action := regexp.MustCompile(`Action: "([a-z_]+\.[a-z_]+)"(\s*\+)?`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range action.FindAllSubmatch(src, -1) {
			seen++
			name := string(m[1])
			if len(m[2]) > 0 {
				if !hasLabelWithPrefix(name) {
					t.Errorf("%s writes audit actions beginning %q, none of which has a label in actionLabels", filepath.Base(f), name)
				}
				continue
			}
			if _, ok := actionLabels[name]; !ok {
				t.Errorf("%s writes the audit action %q, which has no label in actionLabels", filepath.Base(f), name)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d audit actions in the store's source: the pattern no longer matches how they are written", seen)
	}
}

func hasLabelWithPrefix(prefix string) bool {
	for a := range actionLabels {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}
