package learn

import (
	"net/netip"
	"sync"

	"github.com/airlockhq/airlock/decision"
)

// Bounds on what a Recorder keeps, so that a tool that touches millions of
// paths or hosts cannot grow airlock's memory without end. Past them a
// mount is learned whole (not narrowed), still read-only unless the tool
// wrote in it, and further hosts are a note.
const (
	maxPaths = 1 << 16
	maxConns = 1 << 12
)

// Recorder keeps what runs used: give Use to run.Gate.Observe, run being the
// hostfuncs.Run of runtime.Config.PrepareRun. It is safe for concurrent use;
// its zero value is ready.
type Recorder struct {
	mu       sync.Mutex
	seq      int
	paths    map[pathKey]*pathUse
	overflow map[string]*overflowUse // mounts met once maxPaths were kept
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

// overflowUse is what was done in a mount after the recorder stopped
// keeping its paths: the first read and the first write, which decide
// whether the whole mount is learned and whether it is writable.
type overflowUse struct {
	read, write     pathEvent
	protectedWrites int
}

// pathEvent is one use of one path: when, where and by which call.
type pathEvent struct {
	seq      int
	path, op string
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
func (r *Recorder) Use(u decision.Use) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if u.Kind == decision.NetConnect {
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
	if u.Mount == "" {
		return
	}
	if o := r.overflow[u.Mount]; o != nil {
		o.use(r.seq, u)
		return
	}
	k := pathKey{u.Mount, u.Path}
	p := r.paths[k]
	if p == nil {
		if len(r.paths) >= maxPaths {
			if r.overflow == nil {
				r.overflow = map[string]*overflowUse{}
			}
			o := &overflowUse{}
			r.overflow[u.Mount] = o
			o.use(r.seq, u)
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
	case u.Kind == decision.FSWrite:
		if !p.write {
			p.write, p.firstWrite = true, u.Op
		}
	default:
		if !p.read {
			p.read, p.firstRead = true, u.Op
		}
	}
}

// use keeps the first done read and the first done write outside the
// protected paths (which a learned policy never makes writable).
func (o *overflowUse) use(seq int, u decision.Use) {
	switch {
	case !u.Done:
	case u.Kind == decision.FSWrite && matchesAny(defaultProtect, u.Path):
		o.protectedWrites++
	case u.Kind == decision.FSWrite:
		if o.write.seq == 0 {
			o.write = pathEvent{seq, u.Path, u.Op}
		}
	default:
		if o.read.seq == 0 {
			o.read = pathEvent{seq, u.Path, u.Op}
		}
	}
}

// snapshot copies what r holds, for Learn.
func (r *Recorder) snapshot() (paths map[pathKey]pathUse, overflow map[string]overflowUse, conns map[connKey]connUse, connsCut int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	paths = make(map[pathKey]pathUse, len(r.paths))
	for k, v := range r.paths {
		paths[k] = *v
	}
	overflow = map[string]overflowUse{}
	for k, v := range r.overflow {
		overflow[k] = *v
	}
	conns = make(map[connKey]connUse, len(r.conns))
	for k, v := range r.conns {
		conns[k] = *v
	}
	return paths, overflow, conns, r.connsCut
}
