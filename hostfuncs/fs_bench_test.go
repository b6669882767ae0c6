//go:build linux

package hostfuncs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/policy"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
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
	airlock, err := NewFS(m, NewGate(context.Background(), nil, nil), NewOpenFileLimit(256))
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
