//go:build linux

package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/policy"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// BenchmarkOpenReadClose opens, reads and closes a small file through the
// policy filesystem and through wazero's stock DirFS on the same directory,
// at the mount root and three directories down. Compare the ns/op of the
// two sub-benchmarks of each depth for the cost of the policy.
func BenchmarkOpenReadClose(b *testing.B) {
	dir := b.TempDir()
	for _, p := range []string{"small.txt", "a/b/c/small.txt"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("a small file, as most source files are not"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	m := policy.Mount{Guest: "/work", Host: dir, Access: policy.Write,
		Protect: patterns(b, ".git", ".airlock", ".envrc", ".bashrc", ".profile"),
		Hide:    patterns(b, ".env", ".env.*", "*.pem", ".netrc", "id_rsa")}
	airlock, err := NewFS(m, NewGate(context.Background(), nil, nil), NewOpenFileLimit(256), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer airlock.Close()
	stock := sysfs.DirFS(dir)

	for _, p := range []string{"small.txt", "a/b/c/small.txt"} {
		for _, fsys := range []struct {
			name string
			fs   experimentalsys.FS
		}{{"airlock", airlock}, {"dirfs", stock}} {
			b.Run(p+"/"+fsys.name, func(b *testing.B) {
				buf := make([]byte, 256)
				b.ReportAllocs()
				for b.Loop() {
					f, e := fsys.fs.OpenFile(p, experimentalsys.O_RDONLY, 0)
					if e != 0 {
						b.Fatal(e)
					}
					if _, e := f.Read(buf); e != 0 {
						b.Fatal(e)
					}
					f.Close()
				}
			})
		}
	}
}

// BenchmarkWASIOpenReadClose is path_open, fd_read and fd_close of a small
// file as a guest calls them, through airlock's WASI and through wazero's
// own WASI with the same policy filesystem mounted: the cost of airlock's
// descriptor table and rights against wazero's.
func BenchmarkWASIOpenReadClose(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), []byte("a small file, as most source files are not"), 0o644); err != nil {
		b.Fatal(err)
	}
	m := policy.Mount{Guest: "/work", Host: dir, Access: policy.Write,
		Protect: patterns(b, ".git", ".airlock"), Hide: patterns(b, ".env", "*.pem")}
	fsys, err := NewFS(m, NewGate(context.Background(), nil, nil), NewOpenFileLimit(256), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer fsys.Close()
	ctx := context.Background()

	// Both are called with the same guest memory layout: the path at 1024,
	// an iovec at 2048 naming 256 bytes at 4096, results at 3072.
	prepare := func(mod api.Module) {
		mod.Memory().WriteString(1024, "small.txt")
		mod.Memory().WriteUint32Le(2048, 4096)
		mod.Memory().WriteUint32Le(2052, 256)
	}
	loop := func(b *testing.B, ctx context.Context, mod api.Module, open, read, closeFn api.GoModuleFunction) {
		stack := make([]uint64, 9)
		b.ReportAllocs()
		for b.Loop() {
			copy(stack, []uint64{3, 1, 1024, 9, 0, rightFdRead, 0, 0, 3072})
			open.Call(ctx, mod, stack)
			if stack[0] != 0 {
				b.Fatalf("path_open: errno %d", stack[0])
			}
			fd, _ := mod.Memory().ReadUint32Le(3072)
			copy(stack, []uint64{uint64(fd), 2048, 1, 3076})
			read.Call(ctx, mod, stack)
			if stack[0] != 0 {
				b.Fatalf("fd_read: errno %d", stack[0])
			}
			stack[0] = uint64(fd)
			closeFn.Call(ctx, mod, stack)
		}
	}

	b.Run("airlock", func(b *testing.B) {
		g := newWASIGuest(b, WASIMount{Guest: "/work", FS: fsys})
		prepare(g.mod)
		loop(b, g.ctx, g.mod, wasiFuncs["path_open"], wasiFuncs["fd_read"], wasiFuncs["fd_close"])
	})
	b.Run("wazero", func(b *testing.B) {
		r := wazero.NewRuntime(ctx)
		defer r.Close(ctx)
		hb := r.NewHostModuleBuilder(WASIModule)
		wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(hb)
		cm, err := hb.Compile(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fn := func(name string) api.GoModuleFunction {
			return cm.ExportedFunctions()[name].GoFunction().(api.GoModuleFunction)
		}
		cfg := wazero.NewModuleConfig().WithFSConfig(wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(fsys, "/work"))
		mod, err := r.InstantiateWithConfig(ctx, memModule, cfg)
		if err != nil {
			b.Fatal(err)
		}
		prepare(mod)
		loop(b, ctx, mod, fn("path_open"), fn("fd_read"), fn("fd_close"))
	})
}
