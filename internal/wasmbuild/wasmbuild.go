// Package wasmbuild builds Go test guests for GOOS=wasip1 GOARCH=wasm. Test
// binaries call it once from TestMain; Go's build cache makes rebuilds of
// unchanged guests take milliseconds.
package wasmbuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the main package in srcDir into outDir/name.wasm and
// returns that path.
func Build(srcDir, outDir, name string) (string, error) {
	out := filepath.Join(outDir, name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s for wasip1: %v: %s", srcDir, err, stderr.String())
	}
	return out, nil
}

// Binary builds a host binary (for example cmd/airlock) into outDir.
func Binary(pkgDir, outDir, name string) (string, error) {
	out := filepath.Join(outDir, name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = pkgDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %v: %s", pkgDir, err, stderr.String())
	}
	return out, nil
}
