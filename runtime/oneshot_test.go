package runtime

import (
	"context"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// A OneShot engine builds only the host functions its module imports
// (exitModule imports proc_exit alone), and the module runs.
func TestOneShotBuildsOnlyTheImports(t *testing.T) {
	t.Setenv("GOGC", "100") // the test process's collector stays as it is
	ctx := context.Background()
	e, err := New(ctx, Config{CacheDir: "-", OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m := NewModule("exit", exitModule(3))
	res, err := e.Run(ctx, Spec{Module: m, Policy: policy.Default(t.TempDir())})
	if err != nil || res.ExitCode != 3 {
		t.Fatalf("%v %+v", err, res)
	}
	if len(e.runtimes) != 1 {
		t.Fatalf("%d runtimes", len(e.runtimes))
	}
	for _, r := range e.runtimes {
		wasi := r.rt.Module("wasi_snapshot_preview1")
		if wasi == nil {
			t.Fatal("no WASI module")
		}
		if defs := wasi.ExportedFunctionDefinitions(); len(defs) != 1 || defs["proc_exit"] == nil {
			t.Errorf("WASI exports %d functions, want proc_exit alone", len(defs))
		}
		if r.rt.Module("wasi") != nil {
			t.Error("wasi-threads' module built for a module that does not import it")
		}
	}
}
