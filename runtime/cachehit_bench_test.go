package runtime_test

import (
	"context"
	"testing"

	"github.com/airlockhq/airlock/runtime"
)

// BenchmarkCacheHit: what a new process pays to get the probe (a 3 MB Go
// module) ready from a warm disk cache: open the engine, load the compiled
// module, close. Since compiled modules are sealed, this includes copying
// the entry into wazero's private folder while its MAC is checked.
func BenchmarkCacheHit(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	warm := func() {
		e, err := runtime.New(ctx, runtime.Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Precompile(ctx, probe, 0, runtime.InterruptAbandon); err != nil {
			b.Fatal(err)
		}
		e.Close(ctx)
	}
	warm()
	b.ResetTimer()
	for b.Loop() {
		warm()
	}
}
