//go:build wasmtime

package runtime

// wasi-threads on wasmtime need a shared memory made by the host, and
// wasmtime-go (v39) turns the threads feature on (Config.SetWasmThreads)
// but has no Go API for shared memories: it cannot make one, define one in
// a linker, or read one a module exports. So those few calls go to
// wasmtime's C API, which wasmtime-go links, as wasmtime_epoch.go does.
// The prototypes and the structs they pass are declared here rather than
// by including wasmtime.h, whose folder lies inside wasmtime-go's module;
// checkWasmtimeLayout compares each struct's size with the one
// wasmtime-go's own cgo computed from the real header, and every pointer
// taken from an unexported field of wasmtime-go is checked against what
// wasmtime-go exports before use. See RATIONALE.md, "Why run wasi-threads,
// and how?".

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasm_memorytype_t wasm_memorytype_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_caller wasmtime_caller_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasmtime_sharedmemory wasmtime_sharedmemory_t;
typedef struct { size_t size; char *data; } wasm_byte_vec_t;

// extern.h, as wasmtime 39 lays it out.
typedef struct { uint64_t store_id; void *__private; } airlock_func_t;
typedef struct { struct { uint64_t store_id; uint32_t __private1; }; uint32_t __private2; } airlock_table_t;
typedef struct { struct { uint64_t store_id; uint32_t __private1; }; uint32_t __private2; } airlock_memory_t;
typedef struct { uint64_t store_id; uint32_t __private1; uint32_t __private2; uint32_t __private3; } airlock_global_t;
typedef struct {
	uint8_t kind;
	union {
		airlock_func_t func;
		airlock_global_t global;
		airlock_table_t table;
		airlock_memory_t memory;
		wasmtime_sharedmemory_t *sharedmemory;
	} of;
} wasmtime_extern_t;

#define AIRLOCK_EXTERN_SHAREDMEMORY 4

extern wasmtime_error_t *wasmtime_memorytype_new(uint64_t, bool, uint64_t, bool, bool, uint8_t, wasm_memorytype_t **);
extern void wasm_memorytype_delete(wasm_memorytype_t *);
extern wasmtime_error_t *wasmtime_sharedmemory_new(const wasm_engine_t *, const wasm_memorytype_t *, wasmtime_sharedmemory_t **);
extern void wasmtime_sharedmemory_delete(wasmtime_sharedmemory_t *);
extern wasmtime_sharedmemory_t *wasmtime_sharedmemory_clone(const wasmtime_sharedmemory_t *);
extern uint8_t *wasmtime_sharedmemory_data(const wasmtime_sharedmemory_t *);
extern size_t wasmtime_sharedmemory_data_size(const wasmtime_sharedmemory_t *);
extern wasmtime_error_t *wasmtime_sharedmemory_grow(const wasmtime_sharedmemory_t *, uint64_t, uint64_t *);
extern wasmtime_linker_t *wasmtime_linker_clone(wasmtime_linker_t *);
extern wasmtime_error_t *wasmtime_linker_define(wasmtime_linker_t *, wasmtime_context_t *,
	const char *, size_t, const char *, size_t, const wasmtime_extern_t *);
extern bool wasmtime_linker_get(const wasmtime_linker_t *, wasmtime_context_t *,
	const char *, size_t, const char *, size_t, wasmtime_extern_t *);
extern bool wasmtime_caller_export_get(wasmtime_caller_t *, const char *, size_t, wasmtime_extern_t *);
extern wasmtime_context_t *wasmtime_caller_context(wasmtime_caller_t *);
extern void wasmtime_extern_delete(wasmtime_extern_t *);
extern void wasmtime_error_message(const wasmtime_error_t *, wasm_byte_vec_t *);
extern void wasmtime_error_delete(wasmtime_error_t *);
extern void wasm_byte_vec_delete(wasm_byte_vec_t *);

static wasmtime_error_t *airlock_sharedmemory_new(void *engine, uint64_t min, uint64_t max, wasmtime_sharedmemory_t **ret) {
	wasm_memorytype_t *ty = NULL;
	wasmtime_error_t *err = wasmtime_memorytype_new(min, true, max, false, true, 16, &ty);
	if (err != NULL) {
		return err;
	}
	err = wasmtime_sharedmemory_new(engine, ty, ret);
	wasm_memorytype_delete(ty);
	return err;
}

static wasmtime_error_t *airlock_define_shared(void *linker, void *cx, _GoString_ module, _GoString_ name,
		wasmtime_sharedmemory_t *mem) {
	wasmtime_extern_t item;
	item.kind = AIRLOCK_EXTERN_SHAREDMEMORY;
	item.of.sharedmemory = mem;
	return wasmtime_linker_define(linker, cx, _GoStringPtr(module), _GoStringLen(module),
		_GoStringPtr(name), _GoStringLen(name), &item);
}

// airlock_linker_has reports whether linker defines module.name.
static int airlock_linker_has(void *linker, void *cx, _GoString_ module, _GoString_ name) {
	wasmtime_extern_t item;
	if (!wasmtime_linker_get(linker, cx, _GoStringPtr(module), _GoStringLen(module),
			_GoStringPtr(name), _GoStringLen(name), &item)) {
		return 0;
	}
	wasmtime_extern_delete(&item);
	return 1;
}

// airlock_caller_shared returns the calling instance's export name when it
// is a shared memory (a handle of its own, to delete), else NULL; -1 in
// *bad when caller is not the one whose context cx is.
static wasmtime_sharedmemory_t *airlock_caller_shared(void *caller, void *cx, _GoString_ name, int *bad) {
	if ((void *)wasmtime_caller_context(caller) != cx) {
		*bad = 1;
		return NULL;
	}
	wasmtime_extern_t item;
	if (!wasmtime_caller_export_get(caller, _GoStringPtr(name), _GoStringLen(name), &item)) {
		return NULL;
	}
	if (item.kind != AIRLOCK_EXTERN_SHAREDMEMORY) {
		wasmtime_extern_delete(&item);
		return NULL;
	}
	return item.of.sharedmemory;
}

// instance.h, as wasmtime 39 lays it out.
typedef struct { uint64_t store_id; size_t __private; } airlock_instance_t;
extern bool wasmtime_instance_export_get(wasmtime_context_t *, const airlock_instance_t *,
	const char *, size_t, wasmtime_extern_t *);

// airlock_instance_shared returns instance's export name when it is a
// shared memory (a handle of its own, to delete), else NULL.
static wasmtime_sharedmemory_t *airlock_instance_shared(void *cx, void *instance, _GoString_ name) {
	wasmtime_extern_t item;
	if (!wasmtime_instance_export_get(cx, instance, _GoStringPtr(name), _GoStringLen(name), &item)) {
		return NULL;
	}
	if (item.kind != AIRLOCK_EXTERN_SHAREDMEMORY) {
		wasmtime_extern_delete(&item);
		return NULL;
	}
	return item.of.sharedmemory;
}

static size_t airlock_extern_size(void) { return sizeof(wasmtime_extern_t); }
static size_t airlock_instance_size(void) { return sizeof(airlock_instance_t); }
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	goruntime "runtime"
	"strings"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// errLayout is what every unexpected layout of wasmtime-go gives.
var errLayout = errors.New("wasmtime: this wasmtime-go's layout is not the one airlock was built for (wasi-threads)")

// checkWasmtimeLayout checks that wasmtime-go's types are laid out as
// airlock reads them: Engine, Linker and Caller start with their C pointer
// (of the C type named), and the extern struct declared above has the
// size wasmtime-go's cgo computed from wasmtime's own header.
func checkWasmtimeLayout() error {
	for _, c := range []struct {
		t     reflect.Type
		field string
		ctype string
	}{
		{reflect.TypeFor[wasmtime.Engine](), "_ptr", "wasm_engine_t"},
		{reflect.TypeFor[wasmtime.Linker](), "_ptr", "wasmtime_linker"},
		{reflect.TypeFor[wasmtime.Caller](), "ptr", "wasmtime_caller"},
		{reflect.TypeFor[wasmtime.Extern](), "_ptr", "wasmtime_extern"},
	} {
		if c.t.NumField() == 0 {
			return errLayout
		}
		f := c.t.Field(0)
		if f.Name != c.field || f.Offset != 0 || f.Type.Kind() != reflect.Pointer || !strings.HasSuffix(f.Type.Elem().Name(), c.ctype) {
			return fmt.Errorf("%w: %s.%s is %s", errLayout, c.t.Name(), f.Name, f.Type)
		}
	}
	if l := reflect.TypeFor[wasmtime.Linker](); l.NumField() != 2 || l.Field(1).Name != "Engine" {
		return fmt.Errorf("%w: Linker has other fields", errLayout)
	}
	if got, want := uintptr(C.airlock_extern_size()), reflect.TypeFor[wasmtime.Extern]().Field(0).Type.Elem().Size(); got != want {
		return fmt.Errorf("%w: wasmtime_extern_t is %d bytes, airlock declares %d", errLayout, want, got)
	}
	// Instance holds its wasmtime_instance_t by value, first and alone.
	inst := reflect.TypeFor[wasmtime.Instance]()
	if inst.NumField() != 1 || inst.Field(0).Name != "val" || inst.Field(0).Type.Kind() != reflect.Struct ||
		!strings.Contains(inst.Field(0).Type.Name(), "wasmtime_instance") || inst.Size() != uintptr(C.airlock_instance_size()) {
		return fmt.Errorf("%w: Instance is %s, %d bytes", errLayout, inst.Field(0).Type, inst.Size())
	}
	return nil
}

// instanceShared returns inst's exported shared memory name (a handle of
// its own, to close), nil when it exports none. inst's layout is checked
// by checkWasmtimeLayout; its context is the store's, which wasmtime-go
// exports.
func instanceShared(store *wasmtime.Store, inst *wasmtime.Instance, name string) *sharedMemory {
	p := C.airlock_instance_shared(unsafe.Pointer(store.Context()), unsafe.Pointer(inst), name)
	goruntime.KeepAlive(inst)
	if p == nil {
		return nil
	}
	return &sharedMemory{p}
}

// firstPointer is the first field of the struct p points to, a C pointer
// (checkWasmtimeLayout).
func firstPointer[T any](p *T) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(p)) }

// wasmtimeError turns a wasmtime_error_t into a Go error, deleting it.
func wasmtimeError(err *C.wasmtime_error_t) error {
	var msg C.wasm_byte_vec_t
	C.wasmtime_error_message(err, &msg)
	s := C.GoStringN(msg.data, C.int(msg.size))
	C.wasm_byte_vec_delete(&msg)
	C.wasmtime_error_delete(err)
	return errors.New(s)
}

// sharedMemory is a handle on a wasmtime shared memory. Every handle
// keeps the memory alive; the memory never moves, so its data pointer
// holds while it lives.
type sharedMemory struct{ p *C.wasmtime_sharedmemory_t }

// newSharedMemory makes a shared memory of min to max pages in engine.
func newSharedMemory(engine *wasmtime.Engine, min, max uint64) (*sharedMemory, error) {
	var p *C.wasmtime_sharedmemory_t
	if err := C.airlock_sharedmemory_new(firstPointer(engine), C.uint64_t(min), C.uint64_t(max), &p); err != nil {
		return nil, wasmtimeError(err)
	}
	return &sharedMemory{p}, nil
}

// data is the memory as it is now; a later growth is seen by the next call.
func (m *sharedMemory) data() []byte {
	n := C.wasmtime_sharedmemory_data_size(m.p)
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(C.wasmtime_sharedmemory_data(m.p))), int(n))
}

func (m *sharedMemory) size() uint64 { return uint64(C.wasmtime_sharedmemory_data_size(m.p)) }

// grow grows the memory by delta pages, within its maximum.
func (m *sharedMemory) grow(delta uint64) (prev uint64, ok bool) {
	var p C.uint64_t
	if err := C.wasmtime_sharedmemory_grow(m.p, C.uint64_t(delta), &p); err != nil {
		wasmtimeError(err)
		return 0, false
	}
	return uint64(p), true
}

// clone returns another handle on the memory.
func (m *sharedMemory) clone() *sharedMemory {
	return &sharedMemory{C.wasmtime_sharedmemory_clone(m.p)}
}

func (m *sharedMemory) close() { C.wasmtime_sharedmemory_delete(m.p) }

// cloneLinker returns a copy of l (its definitions, not its functions'
// state: host functions are shared), to define a run's own items in.
// store is any store of l's engine. l's C pointer is checked by looking
// up in it a function l is known to define, and one it cannot.
func cloneLinker(l *wasmtime.Linker, store *wasmtime.Store, known [2]string) (*wasmtime.Linker, error) {
	ptr, cx := firstPointer(l), unsafe.Pointer(store.Context())
	if C.airlock_linker_has(ptr, cx, known[0], known[1]) == 0 || C.airlock_linker_has(ptr, cx, known[0], "airlock-never-defined") != 0 {
		return nil, errLayout
	}
	c := &wasmtime.Linker{Engine: l.Engine}
	*(*unsafe.Pointer)(unsafe.Pointer(c)) = unsafe.Pointer(C.wasmtime_linker_clone((*C.wasmtime_linker_t)(ptr)))
	return c, nil // Close deletes the copy
}

// defineShared defines mem as module.name in l (a linker of cloneLinker).
func defineShared(l *wasmtime.Linker, store *wasmtime.Store, module, name string, mem *sharedMemory) error {
	if err := C.airlock_define_shared(firstPointer(l), unsafe.Pointer(store.Context()), module, name, mem.p); err != nil {
		return wasmtimeError(err)
	}
	return nil
}

// callerShared returns the calling instance's exported shared memory
// name (a handle of its own, to close), nil when it exports none. The
// Caller's C pointer is checked against its context, which wasmtime-go
// exports.
func callerShared(c *wasmtime.Caller, name string) (*sharedMemory, error) {
	var bad C.int
	p := C.airlock_caller_shared(firstPointer(c), unsafe.Pointer(c.Context()), name, &bad)
	if bad != 0 {
		return nil, errLayout
	}
	if p == nil {
		return nil, nil
	}
	return &sharedMemory{p}, nil
}
