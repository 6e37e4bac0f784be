package store_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestLayers checks the package map of the README where it concerns the
// domain and the store: snapglyph imports nothing of ours, store only
// snapglyph, and only the packages that wire or implement persistence
// import store. The dashboard (web) and the API (server) go through
// service. Test files are not counted: they may build fixtures in a
// database directly.
func TestLayers(t *testing.T) {
	const module = "github.com/snapglyph/snapglyph/"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{} // package dir (relative) → our packages it imports
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(imports[dir], rest) {
				imports[dir] = append(imports[dir], rest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports["internal/web"]) == 0 || len(imports["internal/server"]) == 0 {
		t.Fatalf("found no imports of web or server under %s: %v", root, imports)
	}
	// notify is the outbox's deliverer: background work owned by node that
	// claims deliveries and records notices, persistence through and
	// through (its rules, who may read what, are the service's).
	storeUsers := []string{"cmd/snapglyph", "internal/auth", "internal/node", "internal/notify", "internal/service", "internal/testdb"}
	for dir, deps := range imports {
		for _, dep := range deps {
			switch {
			case dir == "internal/snapglyph":
				t.Errorf("the domain package imports %s; it imports nothing of ours", dep)
			case dir == "internal/store" && dep != "internal/snapglyph":
				t.Errorf("store imports %s; it may import only the domain package", dep)
			case dep == "internal/store" && !slices.Contains(storeUsers, dir):
				t.Errorf("%s imports store; only %v may (the dashboard and the API go through service)", dir, storeUsers)
			}
		}
	}
}
