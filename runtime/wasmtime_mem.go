//go:build wasmtime

package runtime

import (
	"context"
	"encoding/binary"
	"math"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero/api"
)

// airlock's host functions (internal/host: WASI and the network) are written
// against wazero's api.Module and api.Memory, and use nothing of them but
// the calling instance's linear memory (and CloseWithExitCode on the way
// out). On wasmtime they get callerModule: the memory of the instance that
// made the call, read through wasmtime's Caller, valid only during the
// call. The embedded wazero interfaces (always nil) supply wazero's
// unexported marker method. Every other method is implemented here, but
// for api.Memory's ReadByte and WriteByte: go vet insists that methods of
// those names have io.ByteReader's signatures, and no host function uses
// them. Were one to, the nil interface would panic inside the host call,
// which storeRun.call turns into a trap of that run, never a crash.
// See RATIONALE.md, "Why one WASI layer for both engines?".

// callerModule is the api.Module a host function sees on wasmtime.
type callerModule struct {
	api.Module // nil: wazero's marker only
	caller     *wasmtime.Caller
	run        *storeRun
}

func (m *callerModule) String() string { return "module[" + m.Name() + "]" }
func (m *callerModule) Name() string   { return "" }

// Memory returns the caller's memory as it is now (a later growth is seen
// by the next call of Memory), or nil when the module exports none.
func (m *callerModule) Memory() api.Memory {
	mem, shared := m.run.memory(m.caller)
	if shared != nil {
		return &callerMemory{shared: shared, data: shared.data()}
	}
	if mem == nil {
		return nil
	}
	return &callerMemory{caller: m.caller, mem: mem, data: mem.UnsafeData(m.caller)}
}

func (m *callerModule) ExportedMemory(name string) api.Memory {
	if name == "memory" {
		return m.Memory()
	}
	return nil
}

func (m *callerModule) ExportedFunction(string) api.Function { return nil }
func (m *callerModule) ExportedFunctionDefinitions() map[string]api.FunctionDefinition {
	return nil
}
func (m *callerModule) ExportedMemoryDefinitions() map[string]api.MemoryDefinition { return nil }
func (m *callerModule) ExportedGlobal(string) api.Global                           { return nil }

// CloseWithExitCode records the exit: the host function then panics with a
// *sys.ExitError, as on wazero, and the call trap ends the guest.
func (m *callerModule) CloseWithExitCode(_ context.Context, code uint32) error {
	m.run.setExit(code)
	return nil
}

func (m *callerModule) Close(ctx context.Context) error { return m.CloseWithExitCode(ctx, 0) }
func (m *callerModule) IsClosed() bool                  { return m.run.exited() }

// callerMemory is a wasmtime linear memory as an api.Memory: the
// caller's own (mem), or a shared memory (wasi-threads), which other
// threads may grow meanwhile (it never moves). data is the memory when
// the host function asked for it; Grow refreshes it.
type callerMemory struct {
	api.Memory // nil: wazero's marker only
	caller     *wasmtime.Caller
	mem        *wasmtime.Memory
	shared     *sharedMemory
	data       []byte
}

func (m *callerMemory) Definition() api.MemoryDefinition { return nil }

func (m *callerMemory) Size() uint32 {
	if uint64(len(m.data)) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(len(m.data))
}

func (m *callerMemory) Grow(delta uint32) (uint32, bool) {
	if m.shared != nil {
		prev, ok := m.shared.grow(uint64(delta))
		m.data = m.shared.data()
		return uint32(prev), ok
	}
	prev, err := m.mem.Grow(m.caller, uint64(delta))
	if err != nil {
		return 0, false
	}
	m.data = m.mem.UnsafeData(m.caller)
	return uint32(prev), true
}

// view returns n bytes at off, aliasing guest memory.
func (m *callerMemory) view(off, n uint32) ([]byte, bool) {
	end := uint64(off) + uint64(n)
	if end > uint64(len(m.data)) {
		return nil, false
	}
	return m.data[off:end:end], true
}

func (m *callerMemory) Read(off, n uint32) ([]byte, bool) { return m.view(off, n) }

func (m *callerMemory) ReadUint16Le(off uint32) (uint16, bool) {
	b, ok := m.view(off, 2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}

func (m *callerMemory) ReadUint32Le(off uint32) (uint32, bool) {
	b, ok := m.view(off, 4)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

func (m *callerMemory) ReadUint64Le(off uint32) (uint64, bool) {
	b, ok := m.view(off, 8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

func (m *callerMemory) ReadFloat32Le(off uint32) (float32, bool) {
	v, ok := m.ReadUint32Le(off)
	return math.Float32frombits(v), ok
}

func (m *callerMemory) ReadFloat64Le(off uint32) (float64, bool) {
	v, ok := m.ReadUint64Le(off)
	return math.Float64frombits(v), ok
}

func (m *callerMemory) Write(off uint32, v []byte) bool {
	b, ok := m.view(off, uint32(len(v)))
	if !ok || uint64(len(v)) > math.MaxUint32 {
		return false
	}
	copy(b, v)
	return true
}

func (m *callerMemory) WriteString(off uint32, v string) bool {
	b, ok := m.view(off, uint32(len(v)))
	if !ok || uint64(len(v)) > math.MaxUint32 {
		return false
	}
	copy(b, v)
	return true
}

func (m *callerMemory) WriteUint16Le(off uint32, v uint16) bool {
	b, ok := m.view(off, 2)
	if ok {
		binary.LittleEndian.PutUint16(b, v)
	}
	return ok
}

func (m *callerMemory) WriteUint32Le(off, v uint32) bool {
	b, ok := m.view(off, 4)
	if ok {
		binary.LittleEndian.PutUint32(b, v)
	}
	return ok
}

func (m *callerMemory) WriteUint64Le(off uint32, v uint64) bool {
	b, ok := m.view(off, 8)
	if ok {
		binary.LittleEndian.PutUint64(b, v)
	}
	return ok
}

func (m *callerMemory) WriteFloat32Le(off uint32, v float32) bool {
	return m.WriteUint32Le(off, math.Float32bits(v))
}

func (m *callerMemory) WriteFloat64Le(off uint32, v float64) bool {
	return m.WriteUint64Le(off, math.Float64bits(v))
}
