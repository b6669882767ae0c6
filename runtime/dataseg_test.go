package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/airlockhq/airlock/internal/host"
)

// initialMemory instantiates bin without running it (no start function)
// with alloc mapping its memory (nil: wazero's own) and returns a copy of
// the memory it starts with.
func initialMemory(t *testing.T, bin []byte, alloc experimental.MemoryAllocator) []byte {
	t.Helper()
	ctx := context.Background()
	// The interpreter: the memory a module starts with does not depend on
	// the engine, and it compiles a 10 MB module in a moment.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if err := host.Instantiate(ctx, rt, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	// Functions of other host modules (airlock's network ABI) as stubs.
	stubs := map[string]wazero.HostModuleBuilder{}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod == host.WASIModule {
			continue
		}
		if stubs[mod] == nil {
			stubs[mod] = rt.NewHostModuleBuilder(mod)
		}
		stubs[mod].NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), f.ParamTypes(), f.ResultTypes()).
			Export(name)
	}
	for _, b := range stubs {
		if _, err := b.Instantiate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ictx := ctx
	if alloc != nil {
		ictx = experimental.WithMemoryAllocator(ctx, alloc)
	}
	mod, err := rt.InstantiateModule(ictx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	mem, ok := mod.Memory().Read(0, mod.Memory().Size())
	if !ok {
		t.Fatal("cannot read the memory")
	}
	return bytes.Clone(mem)
}

// The sample tools (Go modules with tens of thousands of data segments)
// start with exactly the memory wazero would give them, whether the data
// comes from the mapped image or from the coalesced segments.
func TestPreparedGoModulesStartWithTheSameMemory(t *testing.T) {
	paths, _ := filepath.Glob("../tools/*/*.wasm")
	if len(paths) == 0 {
		t.Fatal("no sample modules in ../tools")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			want := initialMemory(t, b, nil)
			bin, img, variant := prepareModule(b)
			defer img.close()
			d, ok := dataOf(b)
			if !ok {
				if !bytes.Equal(bin, b) || img != nil || variant != "" {
					t.Fatalf("a module that does not qualify was rewritten (%s)", variant)
				}
				return // a C module: a handful of segments
			}
			if len(d.segs) < coalesceMin || variant == "" {
				t.Fatalf("%d segments, variant %q", len(d.segs), variant)
			}
			var alloc experimental.MemoryAllocator
			if img != nil {
				alloc = img.allocator()
			}
			if got := initialMemory(t, bin, alloc); !bytes.Equal(got, want) {
				t.Fatalf("prepared (%s): the initial memory differs from wazero's (%d vs %d bytes)", variant, len(got), len(want))
			}
			if got := initialMemory(t, d.coalesced(), nil); !bytes.Equal(got, want) {
				t.Fatalf("coalesced: the initial memory differs from wazero's")
			}
		})
	}
}

// A module is rewritten only when the rewrite cannot change its memory.
func TestModulesThatCouldChangeAreNotRewritten(t *testing.T) {
	many := func(n int) []seg {
		var s []seg
		for i := range n {
			s = append(s, seg{off: uint32(100 + 40*i), init: []byte{byte(i), 0, byte(i + 1)}})
		}
		return s
	}
	for _, c := range []struct {
		name string
		m    testModule
		want string // how it is prepared: "" (unchanged), "merge" or "image"
	}{
		// The control: a Go-like module, many small segments.
		{"many segments", testModule{pages: 1, segs: many(100)}, "image"},
		// Few segments: nothing to gain.
		{"few segments", testModule{pages: 1, segs: many(coalesceMin - 1)}, ""},
		// Two segments write the same bytes: the later one wins, and a
		// rewrite that sorts or zero-fills could undo that.
		{"overlapping", testModule{pages: 1, segs: append(many(100), seg{off: 101, init: []byte{9, 9, 9, 9, 9, 9, 9, 9}})}, ""},
		// A data count section: memory.init and data.drop may name segments.
		{"data count", testModule{pages: 1, segs: many(100), dataCount: true}, ""},
		// A passive segment is only copied by memory.init.
		{"passive segment", testModule{pages: 1, segs: append(many(100), seg{passive: true, init: []byte{1}})}, ""},
		// The memory is imported: the instance does not allocate it, so
		// wazero writes the (coalesced) segments.
		{"imported memory", testModule{pages: 1, segs: many(100), importMemory: true}, "merge"},
		// A segment past the initial memory fails instantiation, which only
		// wazero writing the segments reports.
		{"segment past the memory", testModule{pages: 1, segs: append(many(100), seg{off: 65530, init: []byte{1, 2, 3, 4, 5, 6, 7, 8}})}, "merge"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.m.bytes()
			bin, img, variant := prepareModule(b)
			defer img.close()
			got := ""
			switch {
			case img != nil:
				got = "image"
			case !bytes.Equal(bin, b):
				got = "merge"
			}
			if got != c.want && !(c.want == "image" && got == "merge" && goruntime.GOOS != "linux") {
				t.Fatalf("prepared as %q (%s), want %q", got, variant, c.want)
			}
			if got == "" || c.m.importMemory || c.name == "segment past the memory" {
				return
			}
			want := initialMemory(t, b, nil)
			var alloc experimental.MemoryAllocator
			if img != nil {
				alloc = img.allocator()
			}
			if got := initialMemory(t, bin, alloc); !bytes.Equal(got, want) {
				t.Fatal("the rewritten module starts with other memory")
			}
		})
	}
}

type seg struct {
	off     uint32
	init    []byte
	passive bool
}

// testModule writes a module with one memory and data segments.
type testModule struct {
	pages        uint32
	segs         []seg
	dataCount    bool
	importMemory bool
}

func (m testModule) bytes() []byte {
	section := func(out []byte, id byte, content []byte) []byte {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(content)))
		return append(out, content...)
	}
	b := []byte("\x00asm\x01\x00\x00\x00")
	limits := binary.AppendUvarint([]byte{0x00}, uint64(m.pages))
	if m.importMemory {
		imp := []byte{1, 3, 'e', 'n', 'v', 3, 'm', 'e', 'm', 0x02}
		b = section(b, 2, append(imp, limits...))
	} else {
		b = section(b, 5, append([]byte{1}, limits...))
	}
	if m.dataCount {
		b = section(b, 12, binary.AppendUvarint(nil, uint64(len(m.segs))))
	}
	data := binary.AppendUvarint(nil, uint64(len(m.segs)))
	for _, s := range m.segs {
		if s.passive {
			data = append(data, 0x01)
		} else {
			data = append(data, 0x00, 0x41)
			data = appendSleb32(data, int32(s.off))
			data = append(data, 0x0b)
		}
		data = binary.AppendUvarint(data, uint64(len(s.init)))
		data = append(data, s.init...)
	}
	return section(b, 11, data)
}
