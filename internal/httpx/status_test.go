package httpx_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// domainKinds reads the E* constants of the domain package's error.go, so
// a kind added there and forgotten here fails the test.
func domainKinds(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../snapglyph/error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			for i, name := range v.Names {
				if !strings.HasPrefix(name.Name, "E") {
					continue
				}
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				s, _ := strconv.Unquote(lit.Value)
				kinds = append(kinds, s)
			}
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("found only %d kinds in error.go: %v", len(kinds), kinds)
	}
	slices.Sort(kinds)
	return kinds
}

func TestEveryKindHasARule(t *testing.T) {
	kinds := domainKinds(t)
	if got := httpx.Kinds(); !slices.Equal(got, kinds) {
		t.Fatalf("the table has the kinds %v; the domain has %v", got, kinds)
	}
	codes := map[string]string{}
	for _, k := range kinds {
		r := httpx.RuleOf(k)
		if r.Status < 400 || r.Status > 599 || http.StatusText(r.Status) == "" {
			t.Errorf("%s: status %d is not an error status", k, r.Status)
		}
		if r.Code == "" || strings.Trim(r.Code, "abcdefghijklmnopqrstuvwxyz_") != "" {
			t.Errorf("%s: default code %q is not snake_case", k, r.Code)
		}
		if other, dup := codes[r.Code]; dup {
			t.Errorf("%s and %s share the default code %q", k, other, r.Code)
		}
		codes[r.Code] = k
	}
}

func TestStatusAndCode(t *testing.T) {
	for _, c := range []struct {
		name       string
		err        error
		kind, code string
		wantStatus int
	}{
		{"Invalid", snapglyph.Errorf(snapglyph.EINVALID, "bad"), snapglyph.EINVALID, "invalid_request", 400},
		{"OwnCode", snapglyph.Codef(snapglyph.EUNAUTHORIZED, "api_key_paused", "paused"), snapglyph.EUNAUTHORIZED, "api_key_paused", 401},
		{"Wrapped", fmt.Errorf("store: x: %w", snapglyph.Codef(snapglyph.ECONFLICT, "invitation_used", "used")), snapglyph.ECONFLICT, "invitation_used", 409},
		{"Busy", snapglyph.Errorf(snapglyph.EBUSY, "busy"), snapglyph.EBUSY, "busy", 503},
		{"Plain", errors.New("boom"), snapglyph.EINTERNAL, "internal_error", 500},
		{"UnknownKind", &snapglyph.Error{Kind: "made_up", Message: "?"}, snapglyph.EINTERNAL, "internal_error", 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := httpx.Kind(c.err); got != c.kind {
				t.Errorf("Kind = %q, want %q", got, c.kind)
			}
			if got := httpx.Status(c.err); got != c.wantStatus {
				t.Errorf("Status = %d, want %d", got, c.wantStatus)
			}
			if got := httpx.Code(c.err); got != c.code {
				t.Errorf("Code = %q, want %q", got, c.code)
			}
		})
	}
}
