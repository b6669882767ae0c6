package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// A long-lived host must stop a runaway guest for real, and must never let
// one stall the garbage collector: Go cannot preempt a goroutine that runs
// compiled WebAssembly, so a collection waits until the guest next leaves
// it. wazero's WithCloseOnContextDone does both by calling out of the guest
// into Go at every loop iteration and function entry, which costs 19–37x on
// tight loops. addYieldChecks does the same work with a counter instead
// (see RATIONALE.md, "Why does airlock count loop iterations instead of
// using `WithCloseOnContextDone`?"):
//
//   - Two globals are added: a budget, and a stop flag that the host sets
//     through an export (stopExport) when the run's time is up. The budget
//     is exported too (fuelExport): the host empties it with the flag set,
//     so that a guest woken from a wait (memory.atomic.wait, a host call)
//     stops at its next check rather than a budget later.
//   - At every function entry and at the top of every loop body, the
//     guest decrements the budget. When it reaches zero (every
//     yieldBudget checks), it runs `memory.grow 0`, which leaves compiled
//     code for Go (where a collection may proceed), then traps with
//     `unreachable` if the stop flag is set, and refills the budget.
//
// Between two checks there is straight-line code only, so a guest reaches
// Go within yieldBudget checks and stops within as many once told to. The
// rewrite decodes every instruction; an opcode it does not know, a module
// without a memory, or a name clash makes it give up (errCannotYield), and
// the module is instrumented by wazero as before. wazero decodes and
// validates the result like any module.

const (
	// yieldBudget is how many checks run between two exits to Go: at a few
	// nanoseconds a check, tens of microseconds.
	yieldBudget = 1 << 16
	// stopExport names the exported stop flag, fuelExport the budget.
	stopExport = "airlock.stop"
	fuelExport = "airlock.fuel"
)

// errCannotYield says a module cannot be given yield checks.
var errCannotYield = errors.New("cannot add yield checks")

type wasmSection struct {
	id      byte
	content []byte
}

// addYieldChecks returns b with yield checks added.
func addYieldChecks(b []byte) ([]byte, error) {
	secs, err := splitSections(b)
	if err != nil {
		return nil, err
	}
	var importedGlobals, definedGlobals uint64
	hasMemory := false
	for _, s := range secs {
		switch s.id {
		case 2:
			globals, mems, err := countImports(s.content)
			if err != nil {
				return nil, err
			}
			importedGlobals += globals
			hasMemory = hasMemory || mems > 0
		case 5:
			n, k := uleb(s.content)
			if k == 0 {
				return nil, fmt.Errorf("%w: a malformed memory section", errCannotYield)
			}
			hasMemory = hasMemory || n > 0
		case 6:
			n, k := uleb(s.content)
			if k == 0 {
				return nil, fmt.Errorf("%w: a malformed global section", errCannotYield)
			}
			definedGlobals = n
		}
	}
	if !hasMemory {
		return nil, fmt.Errorf("%w: the module has no memory", errCannotYield)
	}
	fuel := importedGlobals + definedGlobals
	stop := fuel + 1
	check := yieldCheck(uint32(fuel), uint32(stop))

	newGlobals := []byte{
		0x7f, 0x01, 0x41, // i32, mutable, i32.const
	}
	newGlobals = appendSleb32(newGlobals, yieldBudget)
	newGlobals = append(newGlobals, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // end; i32, mutable, i32.const 0, end

	var out []wasmSection
	sawGlobal, sawExport, sawCode := false, false, false
	for _, s := range secs {
		// A module without a global or export section gets one, in the
		// place the binary format orders it (before exports, before the
		// start section and what follows).
		if !sawGlobal && orderOf(s.id) > orderOf(6) {
			out = append(out, wasmSection{6, append([]byte{2}, newGlobals...)})
			sawGlobal = true
		}
		if !sawExport && orderOf(s.id) > orderOf(7) {
			exp, err := appendYieldExports(nil, fuel, stop)
			if err != nil {
				return nil, err
			}
			out = append(out, wasmSection{7, exp})
			sawExport = true
		}
		switch s.id {
		case 6:
			n, k := uleb(s.content)
			c := binary.AppendUvarint(nil, n+2)
			c = append(c, s.content[k:]...)
			out = append(out, wasmSection{6, append(c, newGlobals...)})
			sawGlobal = true
		case 7:
			exp, err := appendYieldExports(s.content, fuel, stop)
			if err != nil {
				return nil, err
			}
			out = append(out, wasmSection{7, exp})
			sawExport = true
		case 10:
			code, err := addChecksToCode(s.content, check)
			if err != nil {
				return nil, err
			}
			out = append(out, wasmSection{10, code})
			sawCode = true
		default:
			out = append(out, s)
		}
	}
	if !sawCode {
		return nil, fmt.Errorf("%w: the module has no code", errCannotYield)
	}
	res := append([]byte(nil), b[:8]...)
	for _, s := range out {
		res = append(res, s.id)
		res = binary.AppendUvarint(res, uint64(len(s.content)))
		res = append(res, s.content...)
	}
	return res, nil
}

// orderOf is a known section's place in the order the binary format
// requires; custom sections (0) may go anywhere and never force an insert.
func orderOf(id byte) int {
	switch id {
	case 0:
		return -1
	case 1, 2, 3, 4, 5:
		return int(id)
	case 13: // tag, between memory and global
		return 5
	case 6, 7, 8, 9:
		return int(id) + 1
	case 12: // data count, before code
		return 11
	case 10:
		return 12
	case 11:
		return 13
	}
	return 100
}

// yieldCheck is the check placed at every function entry and loop top.
func yieldCheck(fuel, stop uint32) []byte {
	g := func(op byte, idx uint32) []byte { return binary.AppendUvarint([]byte{op}, uint64(idx)) }
	var c []byte
	c = append(c, g(0x23, fuel)...)  // global.get $fuel
	c = append(c, 0x45, 0x04, 0x40)  // i32.eqz; if
	c = append(c, 0x41, 0x00)        //   i32.const 0
	c = append(c, 0x40, 0x00, 0x1a)  //   memory.grow 0; drop: leaves for Go
	c = append(c, g(0x23, stop)...)  //   global.get $stop
	c = append(c, 0x04, 0x40, 0x00)  //   if; unreachable
	c = append(c, 0x0b, 0x41)        //   end; i32.const yieldBudget
	c = appendSleb32(c, yieldBudget) //
	c = append(c, g(0x24, fuel)...)  //   global.set $fuel
	c = append(c, 0x05)              // else
	c = append(c, g(0x23, fuel)...)  //   global.get $fuel
	c = append(c, 0x41, 0x01, 0x6b)  //   i32.const 1; i32.sub
	c = append(c, g(0x24, fuel)...)  //   global.set $fuel
	return append(c, 0x0b)           // end
}

func splitSections(b []byte) ([]wasmSection, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || binary.LittleEndian.Uint32(b[4:8]) != 1 {
		return nil, fmt.Errorf("%w: not a core module", errCannotYield)
	}
	var secs []wasmSection
	for i := 8; i < len(b); {
		id := b[i]
		n, k := uleb(b[i+1:])
		if k == 0 || uint64(len(b)-(i+1+k)) < n {
			return nil, fmt.Errorf("%w: a malformed section", errCannotYield)
		}
		secs = append(secs, wasmSection{id, b[i+1+k : i+1+k+int(n)]})
		i += 1 + k + int(n)
	}
	return secs, nil
}

// countImports counts the globals and memories an import section imports.
func countImports(p []byte) (globals, mems uint64, err error) {
	r := &codeReader{p: p}
	n := r.u32()
	for range n {
		r.name()
		r.name()
		switch r.byte() {
		case 0x00: // func
			r.u32()
		case 0x01: // table
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
			mems++
		case 0x03: // global
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			r.fail()
		}
	}
	if r.bad || r.i != len(p) {
		return 0, 0, fmt.Errorf("%w: a malformed import section", errCannotYield)
	}
	return globals, mems, nil
}

// appendYieldExports adds the exports of globals fuel and stop to an
// export section's content (nil for a new section).
func appendYieldExports(p []byte, fuel, stop uint64) ([]byte, error) {
	var n uint64
	var rest []byte
	if p != nil {
		r := &codeReader{p: p}
		n = uint64(r.u32())
		for range n {
			if name := r.name(); name == stopExport || name == fuelExport {
				return nil, fmt.Errorf("%w: the module exports %q itself", errCannotYield, name)
			}
			r.byte()
			r.u32()
		}
		if r.bad || r.i != len(p) {
			return nil, fmt.Errorf("%w: a malformed export section", errCannotYield)
		}
		_, k := uleb(p)
		rest = p[k:]
	}
	out := binary.AppendUvarint(nil, n+2)
	out = append(out, rest...)
	for _, e := range []struct {
		name  string
		index uint64
	}{{stopExport, stop}, {fuelExport, fuel}} {
		out = binary.AppendUvarint(out, uint64(len(e.name)))
		out = append(out, e.name...)
		out = append(out, 0x03) // global
		out = binary.AppendUvarint(out, e.index)
	}
	return out, nil
}

// addChecksToCode adds check at the start of every function body and of
// every loop in a code section's content.
func addChecksToCode(p []byte, check []byte) ([]byte, error) {
	r := &codeReader{p: p}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(p)+len(p)/8), uint64(n))
	var body []byte
	for range n {
		size := r.u32()
		if r.bad || uint64(len(p)-r.i) < uint64(size) {
			return nil, fmt.Errorf("%w: a malformed function body", errCannotYield)
		}
		fn := &codeReader{p: p[r.i : r.i+int(size)]}
		r.i += int(size)
		body = body[:0]
		// Locals, copied as they are.
		for range fn.u32() {
			fn.u32()
			fn.valType()
		}
		body = append(body, fn.p[:fn.i]...)
		body = append(body, check...)
		if err := fn.copyInstructions(&body, check); err != nil {
			return nil, err
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if r.bad || r.i != len(p) {
		return nil, fmt.Errorf("%w: a malformed code section", errCannotYield)
	}
	return out, nil
}

// codeReader reads the binary format; a read past the end or a malformed
// number sets bad, and later reads return zeros.
type codeReader struct {
	p   []byte
	i   int
	bad bool
}

func (r *codeReader) fail() { r.bad, r.i = true, len(r.p) }

func (r *codeReader) byte() byte {
	if r.i >= len(r.p) {
		r.fail()
		return 0
	}
	r.i++
	return r.p[r.i-1]
}

func (r *codeReader) skip(n int) {
	if len(r.p)-r.i < n {
		r.fail()
		return
	}
	r.i += n
}

// leb skips an LEB128 number of at most maxBytes bytes and returns it
// (unsigned interpretation of its low 64 bits).
func (r *codeReader) leb(maxBytes int) uint64 {
	if r.i < len(r.p) && r.p[r.i] < 0x80 { // one byte: most of them
		r.i++
		return uint64(r.p[r.i-1])
	}
	var v uint64
	for k := 0; k < maxBytes; k++ {
		c := r.byte()
		if r.bad {
			return 0
		}
		if k < 10 {
			v |= uint64(c&0x7f) << (7 * k)
		}
		if c < 0x80 {
			return v
		}
	}
	r.fail()
	return 0
}

func (r *codeReader) u32() uint32 { return uint32(r.leb(5)) }

func (r *codeReader) name() string {
	n := r.u32()
	start := r.i
	r.skip(int(n))
	if r.bad {
		return ""
	}
	return string(r.p[start:r.i])
}

func (r *codeReader) limits() {
	flags := r.byte()
	r.leb(10)
	if flags&1 != 0 {
		r.leb(10)
	}
}

func (r *codeReader) valType() {
	switch r.byte() {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
	default:
		r.fail()
	}
}

// blockType skips a block type: empty (0x40), a value type, or a type index
// (a non-negative s33).
func (r *codeReader) blockType() {
	if r.i >= len(r.p) {
		r.fail()
		return
	}
	switch r.p[r.i] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
		r.i++
	default:
		if r.p[r.i]&0x40 != 0 && r.p[r.i] < 0x80 {
			r.fail() // a negative one-byte s33 that names no type
			return
		}
		r.leb(5)
	}
}

func (r *codeReader) memArg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.leb(10)
}

// Immediates, by opcode (the single-byte opcodes; prefixes have their own).
const (
	immBad      = iota // not an opcode the rewrite knows
	immNone            // no immediate
	immU32             // one index or label
	immU32x2           // two
	immBlock           // a block type
	immLoop            // a block type; the top of a loop
	immMemArg          // a memory argument
	immI32             // a signed LEB of up to 5 bytes
	immI64             // up to 10 bytes
	immF32             // 4 bytes
	immF64             // 8 bytes
	immByte            // one byte
	immBrTable         // a vector of labels and a default
	immSelectT         // a vector of value types
	immTryTable        // a block type and a vector of catch clauses
	immFC              // 0xfc prefix
	immFD              // 0xfd prefix
	immFE              // 0xfe prefix
)

// immediates maps each single-byte opcode to what follows it. It is built
// once and never written.
var immediates = func() (t [256]uint8) {
	set := func(kind uint8, ops ...int) {
		for _, op := range ops {
			t[op] = kind
		}
	}
	set(immNone, 0x00, 0x01, 0x05, 0x0b, 0x0f, 0x0a, 0x19, 0x1a, 0x1b, 0xd1, 0xd3, 0xd4) // unreachable nop else end return throw_ref catch_all drop select ref.is_null ref.eq ref.as_non_null
	for op := 0x45; op <= 0xc4; op++ {
		t[op] = immNone // numeric
	}
	set(immBlock, 0x02, 0x04, 0x06) // block if try
	set(immLoop, 0x03)
	set(immU32, 0x07, 0x08, 0x09, 0x18, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15, 0x3f, 0x40, 0xd2, 0xd5, 0xd6) // catch throw rethrow delegate br br_if call return_call call_ref return_call_ref memory.size memory.grow ref.func br_on_null br_on_non_null
	for op := 0x20; op <= 0x26; op++ {
		t[op] = immU32 // local.* global.* table.get table.set
	}
	set(immU32x2, 0x11, 0x13) // call_indirect return_call_indirect
	set(immBrTable, 0x0e)
	set(immSelectT, 0x1c)
	set(immTryTable, 0x1f)
	for op := 0x28; op <= 0x3e; op++ {
		t[op] = immMemArg
	}
	set(immI32, 0x41)
	set(immI64, 0x42)
	set(immF32, 0x43)
	set(immF64, 0x44)
	set(immByte, 0xd0) // ref.null
	set(immFC, 0xfc)
	set(immFD, 0xfd)
	set(immFE, 0xfe)
	return t
}()

// copyInstructions copies the rest of a function body to out, adding check
// at the top of every loop (after its block type). It copies runs of
// instructions at once, between loops.
func (r *codeReader) copyInstructions(out *[]byte, check []byte) error {
	from := r.i // the start of what is not yet copied
	for r.i < len(r.p) {
		op := r.p[r.i]
		r.i++
		switch immediates[op] {
		case immNone:
		case immU32, immByte:
			if immediates[op] == immByte {
				r.skip(1)
			} else {
				r.leb(5)
			}
		case immU32x2:
			r.leb(5)
			r.leb(5)
		case immBlock:
			r.blockType()
		case immLoop:
			r.blockType()
			if r.bad {
				break
			}
			*out = append(*out, r.p[from:r.i]...)
			*out = append(*out, check...)
			from = r.i
		case immMemArg:
			r.memArg()
		case immI32:
			r.leb(5)
		case immI64:
			r.leb(10)
		case immF32:
			r.skip(4)
		case immF64:
			r.skip(8)
		case immBrTable:
			for range r.u32() {
				r.leb(5)
			}
			r.leb(5)
		case immSelectT:
			for range r.u32() {
				r.valType()
			}
		case immTryTable:
			r.blockType()
			for range r.u32() {
				switch r.byte() {
				case 0x00, 0x01: // catch, catch_ref: tag, label
					r.leb(5)
					r.leb(5)
				case 0x02, 0x03: // catch_all, catch_all_ref: label
					r.leb(5)
				default:
					r.fail()
				}
			}
		case immFC:
			r.prefixFC()
		case immFD:
			r.prefixFD()
		case immFE:
			r.prefixFE()
		default:
			return fmt.Errorf("%w: opcode 0x%02x", errCannotYield, op)
		}
		if r.bad {
			return fmt.Errorf("%w: a malformed instruction (opcode 0x%02x)", errCannotYield, op)
		}
	}
	*out = append(*out, r.p[from:]...)
	return nil
}

func (r *codeReader) prefixFC() {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data mem
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop memory.fill elem.drop table.grow table.size table.fill
		r.u32()
	case sub == 10, sub == 12, sub == 14: // memory.copy table.init table.copy
		r.u32()
		r.u32()
	default:
		r.fail()
	}
}

func (r *codeReader) prefixFD() {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, store, load_zero
		r.memArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case 21 <= sub && sub <= 34: // extract_lane, replace_lane
		r.byte()
	case 84 <= sub && sub <= 91: // load_lane, store_lane
		r.memArg()
		r.byte()
	case sub <= 0x113: // everything else has no immediate (relaxed SIMD included)
	default:
		r.fail()
	}
}

func (r *codeReader) prefixFE() {
	switch sub := r.u32(); {
	case sub == 0x03: // atomic.fence
		r.byte()
	case sub <= 0x02, 0x10 <= sub && sub <= 0x4e:
		r.memArg()
	default:
		r.fail()
	}
}

// guestStop sets the stop flag of every instance of a run's guest (its
// main instance and each wasi-threads thread: every instance has globals
// of its own) and empties its budget, now or as soon as an instance is
// attached.
type guestStop struct {
	mu      sync.Mutex
	flags   map[api.Module]yieldGlobals
	stopped bool
}

type yieldGlobals struct{ stop, fuel api.MutableGlobal }

// stopNow sets the flag and empties the budget: the next check stops the
// guest. (A guest decrementing the budget at that moment may write back
// its own value; it then stops within a budget, or at the next set.)
func (g yieldGlobals) stopNow() {
	g.stop.Set(1)
	if g.fuel != nil {
		g.fuel.Set(0)
	}
}

// attach finds mod's stop flag and budget, and stops it at once if the
// run was already told to stop.
func (s *guestStop) attach(mod api.Module) {
	stop, _ := mod.ExportedGlobal(stopExport).(api.MutableGlobal)
	if stop == nil {
		return
	}
	fuel, _ := mod.ExportedGlobal(fuelExport).(api.MutableGlobal)
	g := yieldGlobals{stop, fuel}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flags == nil {
		s.flags = map[api.Module]yieldGlobals{}
	}
	s.flags[mod] = g
	if s.stopped {
		g.stopNow()
	}
}

// detach forgets mod (a thread that ended), so that a run starting many
// short threads keeps only its live ones.
func (s *guestStop) detach(mod api.Module) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flags, mod)
}

// set tells every instance to stop at its next check. It may be called
// again, to stop a guest whose budget write raced the last one.
func (s *guestStop) set() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, g := range s.flags {
		g.stopNow()
	}
}
