//go:build wasmtime

package runtime

// The stop switch of a wasmtime store: an epoch-deadline callback that
// wasmtime calls on the guest's own thread at every epoch tick (loop heads
// and function entries check the epoch), which ends the guest once the run
// is over, whether by its time limit or because the caller gave up. Without
// it a guest that only computes ran on after a cancelled run until its
// wall-time limit.
//
// wasmtime-go (v39) does not wrap wasmtime_store_epoch_deadline_callback,
// so it is called here through the C API that wasmtime-go links. The two
// functions are declared here rather than by including wasmtime.h, whose
// folder lies inside wasmtime-go's module.

/*
#include <stdint.h>
#include <stdlib.h>

typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;

extern wasmtime_error_t *wasmtime_error_new(const char *);
extern wasmtime_context_t *wasmtime_store_context(wasmtime_store_t *);
extern void wasmtime_store_epoch_deadline_callback(wasmtime_store_t *,
	wasmtime_error_t *(*)(wasmtime_context_t *, void *, uint64_t *, uint8_t *),
	void *, void (*)(void *));

typedef struct { int stop; int fired; } airlock_epoch;

static wasmtime_error_t *airlock_epoch_tick(wasmtime_context_t *cx, void *data,
		uint64_t *delta, uint8_t *kind) {
	airlock_epoch *e = data;
	if (__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&e->fired, 1, __ATOMIC_RELEASE);
		return wasmtime_error_new("airlock: the run is over");
	}
	*delta = 1; // look again at the next tick
	*kind = 0;  // WASMTIME_UPDATE_DEADLINE_CONTINUE
	return NULL;
}

static int airlock_epoch_install(void *store, void *cx, airlock_epoch *e) {
	if ((void *)wasmtime_store_context(store) != cx) {
		return 0;
	}
	wasmtime_store_epoch_deadline_callback(store, airlock_epoch_tick, e, NULL);
	return 1;
}

static void airlock_epoch_stop(airlock_epoch *e) { __atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE); }
static int airlock_epoch_fired(airlock_epoch *e) { return __atomic_load_n(&e->fired, __ATOMIC_ACQUIRE); }
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// epochStop is one store's stop switch, in C memory that the callback
// reads; free it only after the store is closed.
type epochStop struct{ e *C.airlock_epoch }

// installEpochStop gives store its stop switch and sets its deadline to
// the next tick. The store's C pointer is wasmtime-go's unexported first
// field; it is checked against the store's context (which wasmtime-go
// exports) before use, so a wasmtime-go whose layout differs is refused
// rather than guessed at.
func installEpochStop(store *wasmtime.Store) (*epochStop, error) {
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(store))
	e := (*C.airlock_epoch)(C.calloc(1, C.sizeof_airlock_epoch))
	if C.airlock_epoch_install(ptr, unsafe.Pointer(store.Context()), e) == 0 {
		C.free(unsafe.Pointer(e))
		return nil, errors.New("wasmtime: this wasmtime-go's Store layout is not the one airlock was built for")
	}
	store.SetEpochDeadline(1)
	return &epochStop{e}, nil
}

// stop makes the guest end at its next epoch check (within one tick).
func (s *epochStop) stop() { C.airlock_epoch_stop(s.e) }

// fired reports whether the switch ended the guest.
func (s *epochStop) fired() bool { return C.airlock_epoch_fired(s.e) != 0 }

// free releases the switch; the store must be closed already.
func (s *epochStop) free() { C.free(unsafe.Pointer(s.e)) }
