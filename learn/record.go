package learn

import (
	"net/netip"
	"sync"

	"github.com/airlockhq/airlock/hostfuncs"
)

// Bounds on what a Recorder keeps, so that a tool that touches millions of
// paths or hosts cannot grow airlock's memory without end. Past them a
// mount is learned whole (not narrowed) and further hosts are a note.
const (
	maxPaths = 1 << 16
	maxConns = 1 << 12
)

// Recorder keeps what runs used: give Use to hostfuncs.Gate.Observe. It is
// safe for concurrent use; its zero value is ready.
type Recorder struct {
	mu       sync.Mutex
	seq      int
	paths    map[pathKey]*pathUse
	overflow map[string]bool // mounts with more paths than maxPaths
	conns    map[connKey]*connUse
	connsCut int
}

type pathKey struct{ mount, path string }

// pathUse is what was done at one path of one mount.
type pathUse struct {
	seq         int // when it was first met, for the order of comments
	read, write bool
	look        bool // named, whatever came of it
	firstRead   string
	firstWrite  string
	firstLook   string
}

type connKey struct {
	scheme, host string
	port         int
	addr         netip.Addr
}

type connUse struct {
	seq   int
	local bool
	op    string
}

// Use records one use. It is quick and never blocks for long: it runs on
// the guest's host calls.
func (r *Recorder) Use(u hostfuncs.Use) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if u.Kind == hostfuncs.NetKind {
		k := connKey{u.Scheme, u.Host, u.Port, u.Addr}
		c := r.conns[k]
		if c == nil {
			if len(r.conns) >= maxConns {
				r.connsCut++
				return
			}
			if r.conns == nil {
				r.conns = map[connKey]*connUse{}
			}
			r.conns[k] = &connUse{seq: r.seq, local: u.Local, op: u.Op}
		}
		return
	}
	if u.Mount == "" || r.overflow[u.Mount] {
		return
	}
	k := pathKey{u.Mount, u.Path}
	p := r.paths[k]
	if p == nil {
		if len(r.paths) >= maxPaths {
			if r.overflow == nil {
				r.overflow = map[string]bool{}
			}
			r.overflow[u.Mount] = true
			return
		}
		if r.paths == nil {
			r.paths = map[pathKey]*pathUse{}
		}
		p = &pathUse{seq: r.seq}
		r.paths[k] = p
	}
	switch {
	case !u.Done:
		if !p.look {
			p.look, p.firstLook = true, u.Op
		}
	case u.Kind == "fs.write":
		if !p.write {
			p.write, p.firstWrite = true, u.Op
		}
	default:
		if !p.read {
			p.read, p.firstRead = true, u.Op
		}
	}
}

// snapshot copies what r holds, for Learn.
func (r *Recorder) snapshot() (paths map[pathKey]pathUse, overflow map[string]bool, conns map[connKey]connUse, connsCut int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	paths = make(map[pathKey]pathUse, len(r.paths))
	for k, v := range r.paths {
		paths[k] = *v
	}
	overflow = map[string]bool{}
	for k := range r.overflow {
		overflow[k] = true
	}
	conns = make(map[connKey]connUse, len(r.conns))
	for k, v := range r.conns {
		conns[k] = *v
	}
	return paths, overflow, conns, r.connsCut
}
