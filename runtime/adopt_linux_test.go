package runtime_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// An engine made ahead of a run (airlock warm) read the mount table when
// it was made; a procfs mounted since, below a folder a tool gets, must
// still be out of the tool's reach once a run adopts the engine: Adopt
// reads the table again when it changed. The test mounts procfs in a
// mount namespace of its own, and the tool reads airlock's environment
// through it, where a secret is.
func TestAdoptedEngineKnowsAProcMountMadeSince(t *testing.T) {
	const inNS = "AIRLOCK_TEST_IN_MOUNT_NS"
	if os.Getenv(inNS) == "" {
		unshare, err := exec.LookPath("unshare")
		if os.Getuid() != 0 || err != nil {
			t.Skip("needs root and unshare(1) to mount procfs in a namespace of its own")
		}
		cmd := exec.Command(unshare, "-m", "--propagation", "private", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
		cmd.Env = append(os.Environ(), inNS+"=1", "AIRLOCK_TEST_SECRET=sesame-8d1f")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("in a mount namespace: %v\n%s", err, out)
		}
		return
	}
	ctx := context.Background()
	cache := t.TempDir()
	e, err := runtime.New(ctx, runtime.Config{CacheDir: cache, OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	dir := t.TempDir()
	proc := filepath.Join(dir, "p")
	if err := os.Mkdir(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(proc, syscall.MNT_DETACH)
	if !e.Adopt(runtime.Config{CacheDir: cache, OneShot: true}) {
		t.Fatal("the engine was not adopted")
	}
	p, diags := policy.Default(dir).With(policy.Overrides{Mounts: []string{dir + ":/d:ro"}}, dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var out strings.Builder
	res, err := e.Run(ctx, runtime.Spec{Module: probe, Args: []string{"read", "/d/p/self/environ"}, Policy: p, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "sesame-8d1f") || res.ExitCode == 0 {
		t.Fatalf("the tool read airlock's environment through a procfs mounted after the engine was made (exit %d, %d bytes)", res.ExitCode, out.Len())
	}
}

// A worker preloads the module files of recent runs, which may lie where a
// tool writes: a file no longer of the size the module had when it ran
// has changed, and is not read at all, so a tool that put a huge file
// there costs a worker nothing.
func TestPreloadReadsNoFileOfAnotherSize(t *testing.T) {
	ctx := context.Background()
	e, err := runtime.New(ctx, runtime.Config{CacheDir: t.TempDir(), OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	path := filepath.Join(t.TempDir(), "tool.wasm")
	if err := os.WriteFile(path, probe.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Preload(path, int64(len(probe.Bytes))); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 256<<20); err != nil { // sparse: costs the disk nothing
		t.Fatal(err)
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	_, err = e.Preload(path, int64(len(probe.Bytes)))
	goruntime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "changed size") {
		t.Fatalf("Preload of a file of another size: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("Preload allocated %d bytes for a file it should not read", grew)
	}
}
