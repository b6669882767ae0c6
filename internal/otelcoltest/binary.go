package otelcoltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// EnvBinary names the environment variable that overrides where the
// collector binary lives (and where it is built if missing or stale).
const EnvBinary = "AIRLOCK_OTELCOL"

// DefaultBinary returns the collector's default location,
// $HOME/.cache/airlock-test/otelcol, the same default as .ci/otelcol.sh.
func DefaultBinary() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the default collector path: %w", err)
	}
	return filepath.Join(home, ".cache", "airlock-test", "otelcol"), nil
}

// binary returns the path of an up-to-date collector, building it with
// .ci/otelcol.sh when it is missing or older than its sources. When it
// cannot be built it skips the test, except under CI where it fails it.
func binary(ctx context.Context, t testing.TB) string {
	t.Helper()
	path := os.Getenv(EnvBinary)
	if path == "" {
		var err error
		if path, err = DefaultBinary(); err != nil {
			t.Fatalf("otelcoltest: %v", err)
		}
	}
	root, rootErr := repoRoot()
	if rootErr != nil {
		// No sources to build from (or to compare with): use what is there.
		if isExecutable(path) {
			return path
		}
		cannotBuild(t, path, rootErr)
	}
	if isExecutable(path) && !stale(path, root) {
		return path
	}
	start := time.Now()
	script := filepath.Join(root, ".ci", "otelcol.sh")
	cmd := exec.CommandContext(ctx, "bash", script, path)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		cannotBuild(t, path, fmt.Errorf("running %s: %w\n%s", script, err, bytes.TrimSpace(out)))
	}
	if !isExecutable(path) {
		cannotBuild(t, path, fmt.Errorf("%s succeeded but left no executable\n%s", script, out))
	}
	t.Logf("otelcoltest: ran .ci/otelcol.sh (%v): %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	return path
}

// cannotBuild skips the test outside CI and fails it under CI: a missing
// collector must never turn telemetry tests green in CI by skipping them.
func cannotBuild(t testing.TB, path string, err error) {
	t.Helper()
	msg := fmt.Sprintf("otelcoltest: no OpenTelemetry Collector at %s and it cannot be built: %v\n"+
		"(build it with .ci/otelcol.sh, or point %s at one)", path, err, EnvBinary)
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func inCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// stale reports whether the binary is older than any source of the
// collector module: the same rule .ci/otelcol.sh applies.
func stale(bin, root string) bool {
	fi, err := os.Stat(bin)
	if err != nil {
		return true
	}
	for _, name := range []string{"main.go", "go.mod", "go.sum"} {
		src, err := os.Stat(filepath.Join(root, "testdata", "otelcol", name))
		if err != nil || !fi.ModTime().After(src.ModTime()) {
			return true
		}
	}
	return false
}

// repoRoot finds the airlock checkout holding .ci/otelcol.sh: first from
// this source file's path, then by walking up from the working directory.
func repoRoot() (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", ".."))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, dir)
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, ".ci", "otelcol.sh")); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	return "", errors.New("cannot find the airlock checkout (.ci/otelcol.sh)")
}
