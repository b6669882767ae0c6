// Package wasmfile reads what a WebAssembly binary declares about itself
// without compiling it: its imports and exports with their types, its
// memories (limits, shared, 64-bit), and the producers custom section. The
// runtime uses it to refuse modules it cannot run with a message that names
// the reason (a threads import, a shared memory, a component), and
// `airlock inspect` to describe a module even when no engine would compile it.
//
// It decodes only the sections it needs (type, import, function, memory,
// export, and the "producers" custom section) and skips the others by
// their length, so code it does not understand costs nothing.
package wasmfile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Kind is the kind of an import or export.
type Kind byte

const (
	KindFunc   Kind = 0
	KindTable  Kind = 1
	KindMemory Kind = 2
	KindGlobal Kind = 3
	KindTag    Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// FuncType is a function signature, with value types spelled as in the text
// format ("i32", "f64", "funcref", …).
type FuncType struct {
	Params, Results []string
}

func (t FuncType) String() string {
	s := "(" + strings.Join(t.Params, ", ") + ")"
	if len(t.Results) > 0 {
		s += " -> " + strings.Join(t.Results, ", ")
	}
	return s
}

// Memory describes a linear memory: its limits in 64 KiB pages, whether it
// is shared between threads (the threads proposal) and whether it has
// 64-bit addresses (memory64).
type Memory struct {
	Min    uint64
	Max    uint64 // valid when HasMax
	HasMax bool
	Shared bool
	Is64   bool
}

// Import is one import of a module.
type Import struct {
	Module, Name string
	Kind         Kind
	Func         *FuncType // KindFunc
	Memory       *Memory   // KindMemory
}

// Export is one export of a module.
type Export struct {
	Name  string
	Kind  Kind
	Func  *FuncType // KindFunc, when the index could be resolved
	Index uint32
}

// File is what a module declares.
type File struct {
	Imports  []Import
	Exports  []Export
	Memories []Memory // defined in the module (imported ones are in Imports)
	// Producers is the "producers" custom section: field ("language",
	// "processed-by", "sdk") to "name version" entries.
	Producers map[string][]string
}

// Magic is the first four bytes of every WebAssembly binary.
var Magic = []byte("\x00asm")

// ErrComponent is returned for a WebAssembly component (the component
// model, WASI preview 2) rather than a core module.
var ErrComponent = errors.New("a WebAssembly component (WASI preview 2), not a core module")

// Parse decodes b. It returns ErrComponent for a component and a
// descriptive error for anything else that is not a well-formed module
// header or a section it decodes.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], Magic) {
		return nil, errors.New("not a WebAssembly binary (no \\0asm header)")
	}
	switch {
	case bytes.Equal(b[4:8], []byte{1, 0, 0, 0}):
	case b[6] == 1 && b[7] == 0: // version 0x000d…, layer 1: a component
		return nil, ErrComponent
	default:
		return nil, fmt.Errorf("unknown WebAssembly binary version % x", b[4:8])
	}
	r := &reader{b: b, off: 8}
	f := &File{}
	var types []FuncType
	var funcTypes []uint32 // type index of every function, imported ones first
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		s := &reader{b: body, base: r.off - len(body)}
		switch id {
		case 0:
			name, err := s.name()
			if err == nil && name == "producers" {
				f.Producers, _ = producers(s) // best effort: it is metadata
			}
		case 1:
			if types, err = typeSection(s); err != nil {
				return nil, fmt.Errorf("type section: %w", err)
			}
		case 2:
			if err := importSection(s, f, types, &funcTypes); err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
		case 3:
			n, err := s.u32()
			if err != nil {
				return nil, fmt.Errorf("function section: %w", err)
			}
			for i := uint32(0); i < n; i++ {
				t, err := s.u32()
				if err != nil {
					return nil, fmt.Errorf("function section: %w", err)
				}
				funcTypes = append(funcTypes, t)
			}
		case 5:
			n, err := s.u32()
			if err != nil {
				return nil, fmt.Errorf("memory section: %w", err)
			}
			for i := uint32(0); i < n; i++ {
				m, err := s.limits()
				if err != nil {
					return nil, fmt.Errorf("memory section: %w", err)
				}
				f.Memories = append(f.Memories, m)
			}
		case 7:
			if err := exportSection(s, f); err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
		}
	}
	for i := range f.Exports {
		e := &f.Exports[i]
		if e.Kind == KindFunc && int(e.Index) < len(funcTypes) && int(funcTypes[e.Index]) < len(types) {
			t := types[funcTypes[e.Index]]
			e.Func = &t
		}
	}
	return f, nil
}

// Import returns the import of module.name, or nil.
func (f *File) Import(module, name string) *Import {
	for i := range f.Imports {
		if f.Imports[i].Module == module && f.Imports[i].Name == name {
			return &f.Imports[i]
		}
	}
	return nil
}

// AllMemories returns the imported memories, then the defined ones, in
// index order.
func (f *File) AllMemories() []Memory {
	var ms []Memory
	for _, im := range f.Imports {
		if im.Memory != nil {
			ms = append(ms, *im.Memory)
		}
	}
	return append(ms, f.Memories...)
}

func typeSection(s *reader) ([]FuncType, error) {
	n, err := s.u32()
	if err != nil {
		return nil, err
	}
	types := make([]FuncType, 0, min(n, 1<<16))
	for i := uint32(0); i < n; i++ {
		form, err := s.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			// Rec groups and sub types of the GC proposal: stop here, the
			// imports are still readable with unknown signatures.
			return types, nil
		}
		var t FuncType
		for _, list := range []*[]string{&t.Params, &t.Results} {
			m, err := s.u32()
			if err != nil {
				return nil, err
			}
			for j := uint32(0); j < m; j++ {
				v, err := s.valType()
				if err != nil {
					return nil, err
				}
				*list = append(*list, v)
			}
		}
		types = append(types, t)
	}
	return types, nil
}

func importSection(s *reader, f *File, types []FuncType, funcTypes *[]uint32) error {
	n, err := s.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		var im Import
		if im.Module, err = s.name(); err != nil {
			return err
		}
		if im.Name, err = s.name(); err != nil {
			return err
		}
		k, err := s.byte()
		if err != nil {
			return err
		}
		im.Kind = Kind(k)
		switch im.Kind {
		case KindFunc:
			t, err := s.u32()
			if err != nil {
				return err
			}
			*funcTypes = append(*funcTypes, t)
			if int(t) < len(types) {
				ft := types[t]
				im.Func = &ft
			}
		case KindTable:
			if _, err := s.valType(); err != nil {
				return err
			}
			if _, err := s.limits(); err != nil {
				return err
			}
		case KindMemory:
			m, err := s.limits()
			if err != nil {
				return err
			}
			im.Memory = &m
		case KindGlobal:
			if _, err := s.valType(); err != nil {
				return err
			}
			if _, err := s.byte(); err != nil {
				return err
			}
		case KindTag:
			if _, err := s.byte(); err != nil {
				return err
			}
			if _, err := s.u32(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("import %s.%s has unknown kind %d", im.Module, im.Name, k)
		}
		f.Imports = append(f.Imports, im)
	}
	return nil
}

func exportSection(s *reader, f *File) error {
	n, err := s.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		var e Export
		if e.Name, err = s.name(); err != nil {
			return err
		}
		k, err := s.byte()
		if err != nil {
			return err
		}
		e.Kind = Kind(k)
		if e.Index, err = s.u32(); err != nil {
			return err
		}
		f.Exports = append(f.Exports, e)
	}
	return nil
}

func producers(s *reader) (map[string][]string, error) {
	n, err := s.u32()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for i := uint32(0); i < n; i++ {
		field, err := s.name()
		if err != nil {
			return out, err
		}
		m, err := s.u32()
		if err != nil {
			return out, err
		}
		for j := uint32(0); j < m; j++ {
			name, err := s.name()
			if err != nil {
				return out, err
			}
			version, err := s.name()
			if err != nil {
				return out, err
			}
			out[field] = append(out[field], strings.TrimSpace(name+" "+version))
		}
	}
	return out, nil
}

// reader decodes the binary format's primitives.
type reader struct {
	b    []byte
	off  int
	base int // offset of b in the file, for messages
}

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) errAt(msg string) error {
	return fmt.Errorf("%s at offset %#x", msg, r.base+r.off)
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.errAt("unexpected end")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || r.off+n > len(r.b) {
		return nil, r.errAt(fmt.Sprintf("length %d runs past the end", n))
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits int) (uint64, error) {
	var v uint64
	for shift := 0; ; shift += 7 {
		if shift >= bits {
			return 0, r.errAt("integer too long")
		}
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	if v > 1<<32-1 {
		return 0, r.errAt("integer too large")
	}
	return uint32(v), err
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

func (r *reader) limits() (Memory, error) {
	flags, err := r.byte()
	if err != nil {
		return Memory{}, err
	}
	if flags > 7 {
		return Memory{}, r.errAt(fmt.Sprintf("unknown limits flags %#x", flags))
	}
	m := Memory{HasMax: flags&1 != 0, Shared: flags&2 != 0, Is64: flags&4 != 0}
	if m.Min, err = r.uleb(64); err != nil {
		return m, err
	}
	if m.HasMax {
		if m.Max, err = r.uleb(64); err != nil {
			return m, err
		}
	}
	return m, nil
}

func (r *reader) valType() (string, error) {
	c, err := r.byte()
	if err != nil {
		return "", err
	}
	switch c {
	case 0x7f:
		return "i32", nil
	case 0x7e:
		return "i64", nil
	case 0x7d:
		return "f32", nil
	case 0x7c:
		return "f64", nil
	case 0x7b:
		return "v128", nil
	case 0x70:
		return "funcref", nil
	case 0x6f:
		return "externref", nil
	case 0x69:
		return "exnref", nil
	case 0x63, 0x64: // (ref null? heaptype)
		if _, err := r.uleb(33); err != nil {
			return "", err
		}
		return "ref", nil
	}
	return "", r.errAt(fmt.Sprintf("unknown value type %#x", c))
}
