package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/tetratelabs/wazero/api"
)

// TestAttackHostFunctionPanic: a host function that panics (a bug that a
// hostile tool found the input for) must end only that run, as a crash of
// the tool, with every decision made before the panic recorded; the
// engine and the process go on. Here path_open panics after the real
// function refused the tool a hidden file.
func TestAttackHostFunctionPanic(t *testing.T) {
	wrap := func(module, name string, fn api.GoModuleFunction) api.GoModuleFunction {
		if name != "path_open" {
			return fn
		}
		return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			fn.Call(ctx, mod, stack)
			panic("a bug in a host function")
		})
	}
	// On every engine of the build: wasmtime serves the same host
	// functions through its linker, and a panic must not cross cgo.
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) {
			e, err := runtime.New(context.Background(), runtime.Config{CacheDir: t.TempDir(), Wrap: wrap, Engine: name})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(context.Background())
			work := t.TempDir()
			os.WriteFile(filepath.Join(work, ".env"), []byte("TOKEN=x"), 0o644)
			var recorded []decision.Decision
			res, err := e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"read", "/work/.env"}, Policy: policy.Default(work),
				Record: func(d decision.Decision) error { recorded = append(recorded, d); return nil }})
			if err != nil {
				t.Errorf("the run failed (%v), want a crash (trapped)", err)
			} else if res.Reason != runtime.Trapped {
				t.Errorf("the run ended %s, exit %d, want a crash (trapped)", res.Reason, res.ExitCode)
			}
			if len(recorded) != 1 || recorded[0].Target != "/work/.env" || recorded[0].Allowed {
				t.Errorf("recorded %+v, want the refusal of /work/.env", recorded)
			}
			// The engine still runs tools.
			res, err = e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"exit", "3"}, Policy: policy.Default(work)})
			if err != nil || res.ExitCode != 3 {
				t.Errorf("the next run: %v %+v", err, res)
			}
		})
	}
}
