//go:build wasmtime

package runtime_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/runtime"
)

// TestEnginesKeepStateOutOfReach: a mount that holds airlock's own state
// (a policy file, the compile cache with its sealing key) runs on both
// engines, and the tool reaches none of it, call by call: the policy file
// keeps its bytes, the key never reaches the output.
func TestEnginesKeepStateOutOfReach(t *testing.T) {
	dir := t.TempDir()
	path, err := wasmbuild.Build(filepath.Join("..", "internal", "host", "testdata", "fsguest"), dir, "fsguest")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	guest := runtime.NewModule("fsguest", wasm)
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			cache := filepath.Join(home, ".cache", "airlock")
			policyFile := filepath.Join(home, "proj", "policy.hcl")
			os.MkdirAll(filepath.Dir(policyFile), 0o755)
			os.WriteFile(policyFile, []byte("# policy\n"), 0o644)
			e, err := runtime.New(context.Background(), runtime.Config{CacheDir: cache, Engine: name,
				State: []host.StatePath{{Path: policyFile, What: "policy"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(context.Background())
			key, err := os.ReadFile(filepath.Join(cache, "seal.key"))
			if err != nil || len(key) == 0 {
				t.Fatalf("no sealing key in the cache: %v", err)
			}
			var out bytes.Buffer
			// InterruptInstrument: an abandon-mode run on wazero pauses the
			// collector, which waits forever for a guest some earlier test
			// left spinning (TestAbandonedThreadsReturnAtTheTimeLimit).
			res, err := e.Run(context.Background(), runtime.Spec{Module: guest, Stdout: &out, Policy: plainPolicy(home), Interrupt: runtime.InterruptInstrument,
				Args: []string{"write:/work/proj/policy.hcl:pwned", "remove:/work/proj/policy.hcl",
					"read:/work/.cache/airlock/seal.key", "write:/work/.cache/airlock/seal.key:forged", "write:/work/ok.txt:fine"}})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("%v %+v", err, res)
			}
			if b, _ := os.ReadFile(policyFile); string(b) != "# policy\n" {
				t.Errorf("the policy file changed: %q", b)
			}
			if b, _ := os.ReadFile(filepath.Join(cache, "seal.key")); !bytes.Equal(b, key) {
				t.Error("the sealing key changed")
			}
			if bytes.Contains(out.Bytes(), key) || !strings.Contains(out.String(), "write ok") {
				t.Errorf("output: %q", out.String())
			}
			if strings.Count(out.String(), " err ") != 4 {
				t.Errorf("want 4 refusals:\n%s", out.String())
			}
		})
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
