//go:build linux

package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/policy"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// stateBenchHome is a home folder whose compile cache holds n compiled
// modules, as a user's does after a while, with a project beside it.
func stateBenchHome(b *testing.B, n int) (home string, paths []StatePath) {
	home = b.TempDir()
	for i := 0; i < n; i++ {
		p := filepath.Join(home, ".cache/airlock/compiled/sealed/wazero-v1-amd64-linux", fmt.Sprintf("%064x", i))
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte("x"), 0o600)
	}
	for _, p := range []string{".config/airlock/grants.hcl", "proj/.airlock/grants.hcl", "proj/small.txt", "proj/a/b/c/small.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(home, p)), 0o755)
		os.WriteFile(filepath.Join(home, p), []byte("a small file"), 0o644)
	}
	paths = []StatePath{
		{Path: filepath.Join(home, ".cache/airlock"), What: "compile cache", Secret: true},
		{Path: filepath.Join(home, ".config/airlock"), What: "config folder"},
		{Path: filepath.Join(home, ".config/airlock/grants.hcl"), What: "user grants", Secret: true},
		{Path: filepath.Join(home, "proj/.airlock"), What: "project .airlock folder"},
		{Path: filepath.Join(home, "proj/.airlock/grants.hcl"), What: "project grants", Secret: true},
		{Path: filepath.Join(home, "proj/.airlock/audit.jsonl"), What: "audit log"},
		{Path: "/etc/airlock/policy.hcl", What: "managed policy"},
	}
	return home, paths
}

// BenchmarkGuardState is what each run pays to keep airlock's state out
// of reach: resolving the state paths and indexing the compile cache (200
// compiled modules here), once per run.
func BenchmarkGuardState(b *testing.B) {
	home, paths := stateBenchHome(b, 200)
	f, err := NewFS(policy.Mount{Guest: "/work", Host: filepath.Join(home, "proj"), Access: policy.Write}, NewGate(context.Background(), nil, nil), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.GuardState(NewState(paths)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenReadCloseState is BenchmarkOpenReadClose with the state
// rules on, for a mount (the home folder) that holds the state: the cost
// of the checks on every call.
func BenchmarkOpenReadCloseState(b *testing.B) {
	home, paths := stateBenchHome(b, 200)
	for _, guard := range []bool{false, true} {
		f, err := NewFS(policy.Mount{Guest: "/work", Host: home, Access: policy.Write}, NewGate(context.Background(), nil, nil), NewOpenFileLimit(256), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		name := "plain"
		if guard {
			name = "state"
			if err := f.GuardState(NewState(paths)); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range []string{"proj/small.txt", "proj/a/b/c/small.txt"} {
			b.Run(p+"/"+name, func(b *testing.B) {
				buf := make([]byte, 256)
				b.ReportAllocs()
				for b.Loop() {
					file, e := f.OpenFile(p, experimentalsys.O_RDWR, 0)
					if e != 0 {
						b.Fatal(e)
					}
					if _, e := file.Read(buf); e != 0 {
						b.Fatal(e)
					}
					file.Close()
				}
			})
		}
	}
}
