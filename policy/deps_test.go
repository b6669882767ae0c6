package policy_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeps keeps the package pure: the standard library and the HCL
// libraries (with internal/hclx, airlock's few helpers for every HCL format,
// which import nothing else), nothing else of airlock and no engine.
func TestDeps(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"github.com/hashicorp/hcl/v2", "github.com/zclconf/go-cty/", "github.com/airlockhq/airlock/internal/hclx"}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
	imports:
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(strings.Split(path, "/")[0], ".") {
				continue // standard library
			}
			for _, a := range allowed {
				if strings.HasPrefix(path, a) {
					continue imports
				}
			}
			t.Errorf("%s imports %s: package policy may use only the standard library and HCL", name, path)
		}
	}
}
