package host

import (
	"context"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The static WASI signatures are wazero's: the same functions, parameter
// and result types and parameter names as the WASI of the wazero airlock
// builds with, and every one has airlock's implementation.
func TestWASISignaturesAreWazeros(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	b := r.NewHostModuleBuilder(WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defs := cm.ExportedFunctions()
	if len(defs) != len(wasiSignatures) {
		t.Errorf("wazero has %d WASI functions, wasi_sigs.go %d", len(defs), len(wasiSignatures))
	}
	for i, sig := range wasiSignatures {
		if i > 0 && wasiSignatures[i-1].name >= sig.name {
			t.Errorf("%s is out of order", sig.name)
		}
		d, ok := defs[sig.name]
		switch {
		case !ok:
			t.Errorf("%s: not in wazero's WASI", sig.name)
		case !slices.Equal(d.ParamTypes(), sig.params) || !slices.Equal(d.ResultTypes(), sig.results) || !slices.Equal(d.ParamNames(), sig.paramNames):
			t.Errorf("%s: wazero's is %v %v -> %v, wasi_sigs.go's %v %v -> %v", sig.name,
				d.ParamTypes(), d.ParamNames(), d.ResultTypes(), sig.params, sig.paramNames, sig.results)
		}
		if wasiFuncs[sig.name] == nil && wasiProcFuncs[sig.name] == nil {
			t.Errorf("%s: airlock has no implementation", sig.name)
		}
	}
}
