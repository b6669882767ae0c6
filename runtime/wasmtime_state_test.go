//go:build wasmtime

package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// TestWasmtimeRefusesMountsOverState: wasmtime's WASI is native, so
// airlock cannot refuse single calls; a writable mount that holds
// airlock's state, or a read-only one that holds secret state, is refused
// whole, even when the caller accepts unenforced rules. A read-only mount
// that holds only state a tool may read runs.
func TestWasmtimeRefusesMountsOverState(t *testing.T) {
	tools, err := sampleTools()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cache := filepath.Join(home, ".cache", "airlock")
	policyFile := filepath.Join(home, "proj", "policy.hcl")
	os.MkdirAll(filepath.Dir(policyFile), 0o755)
	os.WriteFile(policyFile, []byte("# policy\n"), 0o644)
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: cache, Engine: runtime.EngineWasmtime,
		AllowUnenforced: true, State: []hostfuncs.StatePath{{Path: policyFile, What: "policy"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	run := func(host string, access policy.Access) error {
		p := plainPolicy(host)
		p.Mounts[0].Access = access
		_, err := e.Run(context.Background(), runtime.Spec{Module: tools["ls"], Args: []string{"/work"}, Policy: p})
		return err
	}
	var se *runtime.StateError
	for _, c := range []struct {
		host   string
		access policy.Access
	}{{home, policy.Write}, {home, policy.Read}, {filepath.Join(home, "proj"), policy.Write},
		// The process filesystem: airlock's own memory and environment.
		{"/proc", policy.Read}, {"/proc/self", policy.Read}} {
		if err := run(c.host, c.access); !errors.As(err, &se) {
			t.Errorf("mount of %s (%s): %v, want a StateError", c.host, c.access, err)
		}
	}
	if err := run(filepath.Join(home, "proj"), policy.Read); err != nil {
		t.Errorf("read-only mount over a policy file: %v", err)
	}
}

// TestWasmtimeCacheIsSealed: wasmtime's serialized modules go through the
// same sealed store: a changed entry is discarded with one line and the
// module compiled again, never handed to wasmtime's deserializer.
func TestWasmtimeCacheIsSealed(t *testing.T) {
	tools, err := sampleTools()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	open := func() (*runtime.Engine, *[]string) {
		var warnings []string
		e, err := runtime.New(context.Background(), runtime.Config{CacheDir: cache, Engine: runtime.EngineWasmtime,
			Warn: func(s string) { warnings = append(warnings, s) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(context.Background()) })
		return e, &warnings
	}
	e, _ := open()
	if err := e.Precompile(context.Background(), tools["wc"], 0, runtime.InterruptAbandon); err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "compiled", "sealed", "wasmtime-*", "*"))
	if len(entries) != 1 {
		t.Fatalf("sealed wasmtime entries: %v", entries)
	}
	b, _ := os.ReadFile(entries[0])
	b[len(b)/2] ^= 0xff
	os.WriteFile(entries[0], b, 0o600)
	e2, warnings := open()
	if err := e2.Precompile(context.Background(), tools["wc"], 0, runtime.InterruptAbandon); err != nil {
		t.Fatal(err)
	}
	if len(*warnings) != 1 {
		t.Errorf("warnings %q, want one line", *warnings)
	}
}
