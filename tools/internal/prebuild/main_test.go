package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrebuiltModulesMatchTheirSource rebuilds every prebuilt sample
// module from its source and checks that its digest is the one its
// tool.hcl pins and the committed module's: the committed bytes are what
// the source builds, and nothing else. A Go build is reproducible for the
// same Go version only, so on another version the test is skipped.
func TestPrebuiltModulesMatchTheirSource(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no Go toolchain")
	}
	root := filepath.Join("..", "..") // tools/
	want, err := os.ReadFile(filepath.Join(root, "GOVERSION"))
	if err != nil {
		t.Fatal(err)
	}
	have, err := goEnv("GOVERSION")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != have {
		t.Skipf("the prebuilt modules were built with %s and this is %s: digests differ between Go versions (task tools rebuilds them)",
			strings.TrimSpace(string(want)), have)
	}
	tools, err := prebuilt(root)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tmp := t.TempDir()
	for _, tl := range tools {
		names[tl.name] = true
		digest, _, err := build(tl.dir, filepath.Join(tmp, tl.name+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(tl.module)
		if err != nil {
			t.Errorf("%s: the prebuilt module is missing: %v", tl.name, err)
			continue
		}
		sum := sha256.Sum256(b)
		committed := "sha256:" + hex.EncodeToString(sum[:])
		if digest != tl.pinned || committed != tl.pinned {
			t.Errorf("%s: the source builds %s, %s pins %s, the committed %s is %s: run task tools",
				tl.name, digest, tl.manifest, tl.pinned, tl.module, committed)
		}
	}
	for _, n := range []string{"cat", "fetch", "grep", "ls", "patch", "wc", "write"} {
		if !names[n] {
			t.Errorf("the sample tool %s has no prebuilt module", n)
		}
	}
}
