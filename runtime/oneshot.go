package runtime

import (
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/internal/wasmfile"
)

// oneShotHeadroom is the Go heap a one-shot process may grow to before
// the collector runs at all, beside oneShotPerByte bytes for each byte of
// the module (decoding and compiling it is what a start allocates most).
const (
	oneShotHeadroom = 128 << 20
	oneShotPerByte  = 16
)

// holdCollector turns the Go collector off for a process that runs one
// tool and exits (Config.OneShot), with a soft memory limit of
// oneShotHeadroom plus oneShotPerByte times moduleSize plus onHeap (guest
// memory wazero keeps on the Go heap: a shared memory), raised (never
// lowered) as the module becomes known.
//
// A cold `airlock run` of a 3 MB Go tool made about 11 MB of garbage while
// it read, decoded and loaded the module, and Go collected it four times
// (its first goal is 4 MB): the background marking took about a fifth of
// the start's CPU, on the core the start was not using, and a collection
// still marking when the guest began waited for it to reach a host call.
// Past the limit the collector runs again as it would, so a tool whose
// host calls make garbage for a long run still has it collected; the
// limit is what such a run may hold in garbage. A guest's own memory is
// mapped outside the Go heap and does not count, except a shared memory
// a module with threads imports, which wazero keeps on the heap (onHeap).
// A GOGC or GOMEMLIMIT the person set is left as it is.
func (e *Engine) holdCollector(moduleSize int, onHeap uint64) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(oneShotHeadroom) + int64(oneShotPerByte)*int64(moduleSize) + int64(onHeap)
	e.gcMu.Lock()
	defer e.gcMu.Unlock()
	if limit <= e.oneShotLimit {
		return
	}
	e.oneShotLimit = limit
	if e.gcPaused > 0 {
		// A run holds the collector (pauseGC) and restores these when
		// it ends.
		e.gcPercent, e.gcLimit = -1, limit
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(limit)
}

// importsKeyOf lists the functions a module imports, "module\x00name"
// sorted and joined by newlines, for a OneShot engine's runtime to build
// only those: wazero compiles a trampoline of native code for every host
// function, and a small tool imports a handful of airlock's sixty.
// threadsOf keeps it per digest; "" (every function) when the module
// cannot be parsed: compiling it then says what is wrong.
func importsKeyOf(f *wasmfile.File) string {
	var names []string
	for _, im := range f.Imports {
		if im.Kind == wasmfile.KindFunc {
			names = append(names, im.Module+"\x00"+im.Name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return "\x00" // no function: not the empty key, which means every one
	}
	return strings.Join(names, "\n")
}
