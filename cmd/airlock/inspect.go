package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmfile"
	"github.com/airlockhq/airlock/runtime"
)

// inspection is what `airlock inspect` tells about a module; --json prints
// it as is (docs/sdk.md).
type inspection struct {
	Name         string              `json:"name"`
	Path         string              `json:"path"`
	Digest       string              `json:"digest"`
	Size         int                 `json:"size"`
	Runnable     bool                `json:"runnable"`
	Memories     []inspectMemory     `json:"memories"`
	Imports      []inspectImport     `json:"imports"`
	Exports      []inspectExport     `json:"exports"`
	Capabilities []capability        `json:"capabilities"`
	Problems     []runtime.Problem   `json:"problems"`
	Producers    map[string][]string `json:"producers,omitempty"`
}

type inspectMemory struct {
	Imported bool   `json:"imported"`
	MinPages uint64 `json:"min_pages"`
	MaxPages uint64 `json:"max_pages,omitempty"` // absent: no maximum
	Shared   bool   `json:"shared"`
	Memory64 bool   `json:"memory64"`
}

type inspectImport struct {
	Module     string `json:"module"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Signature  string `json:"signature,omitempty"`
	Provided   bool   `json:"provided"`
	Capability string `json:"capability,omitempty"`
}

type inspectExport struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Signature string `json:"signature,omitempty"`
}

// capability is one thing a module can reach, and the imports that give it.
type capability struct {
	Name    string   `json:"name"`
	Imports []string `json:"imports"`
	Note    string   `json:"note"`
}

// capabilities, in the order they are shown; the first match of an
// import decides. Notes say how airlock governs each.
var capabilityKinds = []struct {
	name, note string
	match      func(module, name string) bool
}{
	{"filesystem", "WASI files, through airlock's policy filesystem: only mounts exist; protect and hide patterns apply",
		func(m, n string) bool {
			return m == host.WASIModule && (strings.HasPrefix(n, "path_") || strings.HasPrefix(n, "fd_prestat") || n == "fd_readdir")
		}},
	{"network", "airlock's network module: every connection is checked against the policy's network rules",
		func(m, n string) bool { return strings.HasPrefix(m, "airlock_net") }},
	{"sockets", "WASI sockets: airlock preopens no sockets, so these calls fail (EBADF); use the network module instead",
		func(m, n string) bool { return m == host.WASIModule && strings.HasPrefix(n, "sock_") }},
	{"standard streams", "stdin, stdout and stderr, and files once opened; output capped by limits.output",
		func(m, n string) bool { return m == host.WASIModule && strings.HasPrefix(n, "fd_") }},
	{"arguments and environment", "the tool's arguments, and only the environment variables the policy passes",
		func(m, n string) bool {
			return m == host.WASIModule && (strings.HasPrefix(n, "args_") || strings.HasPrefix(n, "environ_"))
		}},
	{"clocks", "real wall and monotonic clocks, sleeping (poll_oneoff), yielding",
		func(m, n string) bool {
			return m == host.WASIModule && (strings.HasPrefix(n, "clock_") || n == "poll_oneoff" || n == "sched_yield")
		}},
	{"randomness", "the host's cryptographic random source",
		func(m, n string) bool { return m == host.WASIModule && n == "random_get" }},
	{"process", "exit status (proc_exit); proc_raise is not supported",
		func(m, n string) bool { return m == host.WASIModule && strings.HasPrefix(n, "proc_") }},
	{"threads", fmt.Sprintf("wasi-threads: each thread a new instance on the shared memory, under the run's policy, limits and telemetry; "+
		"at most %d alive; ended with the run (proc_exit or a trap in any thread ends it)", runtime.MaxThreads),
		func(m, n string) bool { return m == host.ThreadsModule && n == host.ThreadSpawn }},
}

func inspectCmd(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("inspect", std.err)
	asJSON := fs.Bool("json", false, "print the inspection as one JSON object")
	const synopsis = `usage: airlock inspect [--json] MODULE|TOOLDIR
Shows a module's imports, exports, memory, the capabilities it can use under airlock,
and every import airlock does not provide. Exit status: 0 it can run, 1 airlock would refuse it.`
	module, _, err := parseInterspersed(fs, args, std, synopsis)
	if err != nil {
		return err
	}
	if module == "" {
		return missingArg(synopsis, "inspect")
	}
	eng, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer eng.Close(context.Background())
	mod, err := eng.Load(ctx, module)
	if err != nil {
		return fail(ExitNoModule, "%v", err)
	}
	in, err := inspect(ctx, eng, mod)
	if err != nil {
		return fail(ExitNoModule, "%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(in); err != nil {
			return fail(ExitUsage, "%v", err)
		}
	} else {
		printInspection(std.out, in)
	}
	if !in.Runnable {
		return exitWith(1)
	}
	return nil
}

// inspect describes mod without running it.
func inspect(ctx context.Context, eng *runtime.Engine, mod *runtime.Module) (*inspection, error) {
	in := &inspection{Name: mod.Name, Path: mod.Path, Digest: mod.Digest, Size: len(mod.Bytes),
		Memories: []inspectMemory{}, Imports: []inspectImport{}, Exports: []inspectExport{},
		Capabilities: []capability{}, Problems: []runtime.Problem{}}
	problems, err := eng.Check(ctx, mod)
	if err != nil {
		return nil, err
	}
	in.Problems = append(in.Problems, problems...)
	in.Runnable = len(in.Problems) == 0
	f, err := wasmfile.Parse(mod.Bytes)
	if errors.Is(err, wasmfile.ErrComponent) {
		return in, nil // the problem says it all
	}
	if err != nil {
		return nil, &runtime.ModuleError{Name: mod.Name, Err: err}
	}
	in.Producers = f.Producers
	missing := map[string]bool{}
	for _, p := range problems {
		if p.Import != "" {
			missing[p.Import] = true
		}
	}
	caps := map[string][]string{}
	for _, im := range f.Imports {
		ii := inspectImport{Module: im.Module, Name: im.Name, Kind: im.Kind.String(),
			Provided: !missing[im.Module+"."+im.Name]}
		if im.Func != nil {
			ii.Signature = im.Func.String()
		}
		if im.Memory != nil {
			in.Memories = append(in.Memories, memoryOf(*im.Memory, true))
		}
		for _, c := range capabilityKinds {
			if im.Kind == wasmfile.KindFunc && c.match(im.Module, im.Name) {
				ii.Capability = c.name
				caps[c.name] = append(caps[c.name], im.Module+"."+im.Name)
				break
			}
		}
		in.Imports = append(in.Imports, ii)
	}
	for _, m := range f.Memories {
		in.Memories = append(in.Memories, memoryOf(m, false))
	}
	importsShared := false
	for _, m := range in.Memories {
		importsShared = importsShared || (m.Imported && m.Shared)
	}
	for _, c := range capabilityKinds {
		if names := caps[c.name]; len(names) > 0 {
			note := c.note
			if c.name == "threads" && !importsShared {
				note = "wasi-threads, but the module defines its memory instead of importing a shared one, " +
					"so a new thread could not share it: thread-spawn fails (ENOTSUP) and the tool runs on one thread"
			}
			in.Capabilities = append(in.Capabilities, capability{Name: c.name, Imports: names, Note: note})
		}
	}
	for _, ex := range f.Exports {
		ie := inspectExport{Name: ex.Name, Kind: ex.Kind.String()}
		if ex.Func != nil {
			ie.Signature = ex.Func.String()
		}
		in.Exports = append(in.Exports, ie)
	}
	return in, nil
}

func memoryOf(m wasmfile.Memory, imported bool) inspectMemory {
	im := inspectMemory{Imported: imported, MinPages: m.Min, Shared: m.Shared, Memory64: m.Is64}
	if m.HasMax {
		im.MaxPages = m.Max
	}
	return im
}

func printInspection(w io.Writer, in *inspection) {
	fmt.Fprintf(w, "module   %s\n", shownName(in.Name))
	if in.Path != "" {
		fmt.Fprintf(w, "path     %s\n", shownName(in.Path))
	}
	fmt.Fprintf(w, "digest   %s\n", in.Digest)
	fmt.Fprintf(w, "size     %s\n", humanSize(in.Size))
	if len(in.Producers) > 0 {
		var parts []string
		for _, k := range sortedKeys(in.Producers) {
			parts = append(parts, k+": "+strings.Join(in.Producers[k], ", "))
		}
		fmt.Fprintf(w, "built by %s\n", shownName(strings.Join(parts, "; ")))
	}
	for _, m := range in.Memories {
		max := "no maximum (airlock's limits.memory bounds it)"
		if m.MaxPages > 0 {
			max = fmt.Sprintf("max %d pages (%s)", m.MaxPages, sizeString(int64(m.MaxPages)*64<<10))
		}
		var flags []string
		if m.Imported {
			flags = append(flags, "imported")
		}
		if m.Shared {
			flags = append(flags, "SHARED")
		}
		if m.Memory64 {
			flags = append(flags, "64-bit")
		}
		extra := ""
		if len(flags) > 0 {
			extra = " [" + strings.Join(flags, ", ") + "]"
		}
		fmt.Fprintf(w, "memory   min %d pages (%s), %s%s\n", m.MinPages, sizeString(int64(m.MinPages)*64<<10), max, extra)
	}

	fmt.Fprintf(w, "\ncapabilities it can use under airlock:\n")
	if len(in.Capabilities) == 0 {
		fmt.Fprintln(w, "  none (pure computation)")
	}
	for _, c := range in.Capabilities {
		fmt.Fprintf(w, "  %-26s %s\n", c.Name, c.Note)
	}

	fmt.Fprintf(w, "\nimports (%d):\n", len(in.Imports))
	for _, im := range in.Imports {
		mark := " "
		if !im.Provided {
			mark = "!"
		}
		fmt.Fprintf(w, " %s %s.%s %s%s\n", mark, shownName(im.Module), shownName(im.Name), kindPrefix(im.Kind), im.Signature)
	}
	fmt.Fprintf(w, "\nexports (%d):\n", len(in.Exports))
	for _, ex := range in.Exports {
		fmt.Fprintf(w, "   %s %s%s\n", shownName(ex.Name), kindPrefix(ex.Kind), ex.Signature)
	}

	if in.Runnable {
		fmt.Fprintln(w, "\nairlock can run it.")
		return
	}
	fmt.Fprintf(w, "\nairlock cannot run it (%d problem(s)):\n", len(in.Problems))
	for _, p := range in.Problems {
		fmt.Fprintf(w, "  %s\n", shownName(p.String()))
	}
}

// shownName is a name the module chose (an import, an export, a producer,
// a problem that quotes them) on one line of airlock's, with control and
// invisible formatting characters as text: a module in a writable mount
// is what a tool could have written, and airlock inspect is what a person
// runs on it before pinning its digest.
func shownName(s string) string { return approvals.NeutraliseLine(s) }

func kindPrefix(kind string) string {
	if kind == "func" {
		return ""
	}
	return "(" + kind + ")"
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
