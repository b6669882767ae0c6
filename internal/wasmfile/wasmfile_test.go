package wasmfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/wasmfile"
)

// A module with a function import, an imported shared memory, a defined
// 64-bit memory, two exports and a producers section:
//
//	(module
//	  (type (func (param i32 i64) (result i32))) (type (func))
//	  (import "wasi_snapshot_preview1" "fd_write" (func (type 0)))
//	  (import "env" "memory" (memory 1 2 shared))
//	  (memory i64 3)
//	  (func (type 1))
//	  (export "_start" (func 1)) (export "mem" (memory 1)))
var module = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x0a\x02\x60\x02\x7f\x7e\x01\x7f\x60\x00\x00" +
	"\x02\x32\x02" + "\x16wasi_snapshot_preview1\x08fd_write\x00\x00" + "\x03env\x06memory\x02\x03\x01\x02" +
	"\x03\x02\x01\x01" +
	"\x05\x03\x01\x04\x03" +
	"\x07\x10\x02\x06_start\x00\x01\x03mem\x02\x01" +
	"\x0a\x04\x01\x02\x00\x0b" +
	"\x00\x1a\x09producers\x01\x08language\x01\x01C\x0211")

func TestParse(t *testing.T) {
	f, err := wasmfile.Parse(module)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Imports) != 2 {
		t.Fatalf("imports %+v", f.Imports)
	}
	fw := f.Import("wasi_snapshot_preview1", "fd_write")
	if fw == nil || fw.Kind != wasmfile.KindFunc || fw.Func.String() != "(i32, i64) -> i32" {
		t.Fatalf("fd_write %+v", fw)
	}
	mem := f.Import("env", "memory")
	if mem == nil || mem.Memory == nil || *mem.Memory != (wasmfile.Memory{Min: 1, Max: 2, HasMax: true, Shared: true}) {
		t.Fatalf("env.memory %+v", mem)
	}
	if len(f.Memories) != 1 || f.Memories[0] != (wasmfile.Memory{Min: 3, Is64: true}) || len(f.AllMemories()) != 2 {
		t.Fatalf("memories %+v", f.Memories)
	}
	if len(f.Exports) != 2 || f.Exports[0].Name != "_start" || f.Exports[0].Func == nil || f.Exports[0].Func.String() != "()" ||
		f.Exports[1].Kind != wasmfile.KindMemory {
		t.Fatalf("exports %+v", f.Exports)
	}
	if got := f.Producers["language"]; len(got) != 1 || got[0] != "C 11" {
		t.Fatalf("producers %+v", f.Producers)
	}
}

func TestParseRefusesWhatIsNotAModule(t *testing.T) {
	if _, err := wasmfile.Parse([]byte("\x00asm\x0d\x00\x01\x00")); !errors.Is(err, wasmfile.ErrComponent) {
		t.Errorf("component: %v", err)
	}
	for _, c := range []struct{ in, want string }{
		{"#!/bin/sh\n", "not a WebAssembly binary"},
		{"\x00asm\x02\x00\x00\x00", "unknown WebAssembly binary version"},
		{"\x00asm\x01\x00\x00\x00\x01\xff\xff", "unexpected end"},
		{"\x00asm\x01\x00\x00\x00\x02\x05\x01\x01a\x01b", "import section: unexpected end"},
		{"\x00asm\x01\x00\x00\x00\x02\x06\x01\x01a\x01b\x09", "unknown kind 9"},
	} {
		_, err := wasmfile.Parse([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.in, err, c.want)
		}
	}
	// Every truncation of a valid module is an error, never a panic.
	for i := 8; i < len(module)-1; i++ {
		wasmfile.Parse(module[:i])
	}
}
