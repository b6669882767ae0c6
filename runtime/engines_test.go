//go:build !wasmtime

package runtime_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/runtime"
)

func TestWasmtimeNeedsTheBuildTag(t *testing.T) {
	if got := runtime.Engines(); len(got) != 1 || got[0] != runtime.EngineWazero {
		t.Fatalf("Engines() = %v in a default build", got)
	}
	_, err := runtime.New(context.Background(), runtime.Config{CacheDir: "-", Engine: runtime.EngineWasmtime})
	if !errors.Is(err, runtime.ErrNoWasmtime) || !strings.Contains(err.Error(), "-tags wasmtime") {
		t.Fatalf("err %v, want ErrNoWasmtime saying how to rebuild", err)
	}
	_, err = runtime.New(context.Background(), runtime.Config{CacheDir: "-", Engine: "v8"})
	if err == nil || !strings.Contains(err.Error(), `unknown engine "v8"`) {
		t.Fatalf("err %v, want unknown engine", err)
	}
}

// TestDefaultBuildDoesNotLinkWasmtime keeps the cgo engine out of every
// package of a default build: only -tags wasmtime brings it in.
func TestDefaultBuildDoesNotLinkWasmtime(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-deps", "github.com/airlockhq/airlock/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "wasmtime") {
		t.Fatalf("a default build depends on wasmtime:\n%s", out)
	}
}
