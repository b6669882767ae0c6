package manifest_test

import (
	"strings"
	"testing"

	"github.com/airlockhq/airlock/manifest"
)

func TestAnnotations(t *testing.T) {
	src := strings.Replace(grepManifest, "  requests {", `  annotations {
    title      = "Search files"
    read_only  = true
    open_world = false
  }
  requests {`, 1)
	m, diags := manifest.Parse([]byte(src), "tool.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a := m.Annotations
	if a == nil || a.Title != "Search files" || a.ReadOnly == nil || !*a.ReadOnly || a.OpenWorld == nil || *a.OpenWorld ||
		a.Destructive != nil || a.Idempotent != nil {
		t.Errorf("annotations %+v", a)
	}
	if m, _ := manifest.Parse([]byte(grepManifest), "tool.hcl"); m.Annotations != nil {
		t.Error("a manifest without annotations has some")
	}
	for body, want := range map[string]string{
		`read_only = "yes"`: "read_only must be true or false",
		`read_only = true` + "\n" + `destructive = true`: "cannot be read_only and destructive",
		`readonly = true`: `Unsupported argument; An argument named "readonly" is not expected in an annotations block. Did you mean "read_only"?`,
	} {
		src := strings.Replace(grepManifest, "  requests {", "  annotations {\n"+body+"\n  }\n  requests {", 1)
		_, diags := manifest.Parse([]byte(src), "tool.hcl")
		if !diags.HasErrors() || !strings.Contains(strings.Join(lines(diags), "\n"), want) {
			t.Errorf("%s: %v, want %q", body, diags, want)
		}
	}
	src = strings.Replace(grepManifest, "  requests {", "  annotations {\n  }\n  annotations {\n  }\n  requests {", 1)
	if _, diags := manifest.Parse([]byte(src), "tool.hcl"); !diags.HasErrors() || !strings.Contains(diags.Error(), "Duplicate annotations block") {
		t.Errorf("two annotations blocks: %v", diags)
	}
}
