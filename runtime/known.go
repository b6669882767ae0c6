package runtime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// settled is how long a module file must have gone unchanged before
// Preload trusts its identity: longer than any file system's timestamp
// granularity, as the go command does for its own file hashes.
const settled = 2 * time.Second

// fileID is what shows a file unchanged: its device, inode and size, and
// its change time, which every write moves and no process can set
// (fileIDOf, Linux only: elsewhere nothing is remembered).
type fileID struct {
	dev, ino     uint64
	size         int64
	ctime, mtime int64 // nanoseconds
}

type knownFile struct {
	id fileID
	m  *Module
}

// Preload reads the module file at path, as LoadWith does, and remembers
// it when it had not changed for a while: a later LoadWith of the same
// file, still unchanged (fileID), returns the module without reading and
// hashing it again. A warm worker (airlock warm) preloads the modules of
// recent runs; a file a tool rewrote since has another change time and is
// read afresh. size, when not 0, is the size the module had when it last
// ran: a file of another size changed since, and is not read at all (a
// run reads it itself), so a tool that put a huge file there costs a
// worker nothing.
func (e *Engine) Preload(path string, size int64) (*Module, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	b, id, ok, err := readModuleFile(abs, size)
	if err != nil {
		return nil, &NotFoundError{Path: path, Err: err}
	}
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) {
		return nil, &ModuleError{Name: path, Err: fmt.Errorf("not a WebAssembly binary (no \\0asm header)")}
	}
	m := NewModule(strings.TrimSuffix(filepath.Base(abs), ".wasm"), b)
	m.Path = abs
	// The path must still name the file read (a run looks at the path).
	now, err := os.Stat(abs)
	if err != nil {
		return m, nil
	}
	again, ok2 := fileIDOf(now)
	if ok && ok2 && now.Mode().IsRegular() && id == again && time.Since(time.Unix(0, id.ctime)) > settled {
		e.mu.Lock()
		if e.known == nil {
			e.known = map[string]knownFile{}
		}
		e.known[abs] = knownFile{id: id, m: m}
		e.mu.Unlock()
	}
	return m, nil
}

// knownModule returns the module Preload read from path, if the file
// looked at (fi) is the same, unchanged.
func (e *Engine) knownModule(path string, fi os.FileInfo) *Module {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	k, ok := e.known[abs]
	e.mu.Unlock()
	if !ok {
		return nil
	}
	if id, ok := fileIDOf(fi); !ok || id != k.id {
		return nil
	}
	m := *k.m
	m.Name, m.Path = strings.TrimSuffix(filepath.Base(path), ".wasm"), path
	return &m
}
