package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wall/walltest"
	"github.com/airlockhq/airlock/internal/wasmbuild"
)

// The one TestMain of this package: it builds the airlock binary and the
// test guests once. Tests in other files of this package use these paths
// (add more builds here rather than a second TestMain).
var (
	airlockBin string // the airlock CLI built from this package
	probeWasm  string // runtime/testdata/probe: exit codes, loops, allocation, file I/O
	attackWasm string // testdata/wasiattack: raw WASI calls a hostile tool makes (wasi_attack_test.go)
	repoRoot   string // the repository root (tools/ lives there)
	cacheDir   string // AIRLOCK_CACHE_DIR shared by every CLI run of this test binary
)

func TestMain(m *testing.M) {
	walltest.Main() // a child that execs airlock without Landlock (wall_test.go)
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "airlock-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cacheDir = filepath.Join(dir, "cache")
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if airlockBin, err = wasmbuild.Binary(".", dir, "airlock", cliBuildFlags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if probeWasm, err = wasmbuild.Build(filepath.Join(repoRoot, "runtime/testdata/probe"), dir, "probe"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if attackWasm, err = wasmbuild.Build("testdata/wasiattack", dir, "wasiattack"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// cliResult is what one airlock process did.
type cliResult struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// guestOnce returns a function that builds the Go guest in dir for wasip1
// once, on first use, beside the test binary's other builds (TestMain
// removes them), and returns the module's path.
func guestOnce(dir, name string) func(t *testing.T) string {
	build := sync.OnceValues(func() (string, error) { return wasmbuild.Build(dir, filepath.Dir(cacheDir), name) })
	return func(t *testing.T) string {
		t.Helper()
		wasm, err := build()
		if err != nil {
			t.Fatal(err)
		}
		return wasm
	}
}

// runCLI runs the airlock binary in dir with args, stdin and extra
// environment (KEY=VALUE), and waits for it (at most 2 minutes).
func runCLI(t testing.TB, dir, stdin string, env []string, args ...string) cliResult {
	t.Helper()
	return runCLIBin(t, airlockBin, dir, stdin, env, args...)
}

// runCLIBin is runCLI with the airlock program at bin.
func runCLIBin(t testing.TB, bin, dir, stdin string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childAttr() // never outlive the test
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("airlock %v did not finish in 2 minutes; stderr: %s", args, stderr.String())
	}
	return cliResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), time.Since(start)}
}

// project makes a temporary project directory with a .git folder, a .env
// secret, a source file, and a sentinel file outside the project; it
// returns the project path and the sentinel's path.
func project(t *testing.T) (dir, sentinel string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "proj")
	files := map[string]string{
		"proj/main.go":     "package main\n\n// TODO: write main\nfunc main() {}\n",
		"proj/.git/config": "[core]\n\trepositoryformatversion = 0\n",
		"proj/.git/HEAD":   "ref: refs/heads/main\n",
		"proj/.env":        "API_KEY=do-not-leak\n",
		"outside.txt":      "sentinel: outside the mount\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(root, "outside.txt")
}
