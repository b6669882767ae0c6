package telemetry

import (
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// TestWASITable checks every index of wasiTable against the parameter
// names of wazero's own WASI function definitions.
func TestWASITable(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	b := r.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defs := cm.ExportedFunctions()
	check := func(fn string, i int8, what string, ok func(string) bool) {
		t.Helper()
		if i < 0 {
			return
		}
		names := defs[fn].ParamNames()
		if int(i) >= len(names) || !ok(names[i]) {
			t.Errorf("%s: parameter %d is not %s: %v", fn, i, what, names)
		}
	}
	for fn, a := range wasiTable {
		if defs[fn] == nil {
			t.Errorf("%s is not a WASI function", fn)
			continue
		}
		check(fn, a.fd, "a descriptor", func(n string) bool { return n == "fd" || n == "old_fd" })
		isPath := func(n string) bool { return strings.HasSuffix(n, "path") }
		check(fn, a.path, "a path", isPath)
		check(fn, a.path2, "a second path", isPath)
		if a.path >= 0 {
			check(fn, a.path+1, "a path length", func(n string) bool { return strings.HasSuffix(n, "path_len") })
		}
		if a.path2 >= 0 {
			check(fn, a.path2+1, "a path length", func(n string) bool { return strings.HasSuffix(n, "path_len") })
		}
		check(fn, a.nbytes, "a result byte count", func(n string) bool {
			return n == "result.nread" || n == "result.nwritten" || n == "result.bufused" || n == "result.ro_datalen" || n == "result.so_datalen"
		})
		check(fn, a.lenParam, "a length", func(n string) bool { return strings.HasSuffix(n, "_len") })
		check(fn, a.opened, "a result descriptor", func(n string) bool { return n == "result.opened_fd" || n == "result.fd" })
	}
	// Every other fd_* function has its descriptor first.
	for fn, def := range defs {
		if _, listed := wasiTable[fn]; !listed && strings.HasPrefix(fn, "fd_") {
			if names := def.ParamNames(); len(names) == 0 || names[0] != "fd" {
				t.Errorf("%s: parameter 0 is not fd: %v", fn, names)
			}
		}
	}
	if ErrnoName(44) != "ENOENT" || ErrnoName(76) != "ENOTCAPABLE" || ErrnoName(200) != "errno(200)" {
		t.Errorf("errno names: %s %s %s", ErrnoName(44), ErrnoName(76), ErrnoName(200))
	}
}
