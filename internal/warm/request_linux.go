package warm

import (
	"errors"
	"strconv"

	"syscall"
)

// Request is one `airlock run` as its client started it.
type Request struct {
	Args   []string // without the program name: "run", …
	Env    []string
	Umask  int
	Nice   int     // the nice value, -20..19
	Limits []Limit // every resource limit of the client
}

// Limit is one resource limit (getrlimit(2)).
type Limit struct {
	Resource int
	Cur, Max uint64
}

// limitResources are the resource limits a worker takes from its client.
var limitResources = []int{
	syscall.RLIMIT_CPU, syscall.RLIMIT_FSIZE, syscall.RLIMIT_DATA, syscall.RLIMIT_STACK,
	syscall.RLIMIT_CORE, syscall.RLIMIT_AS, syscall.RLIMIT_NOFILE,
	5 /* RSS */, 6 /* NPROC */, 8 /* MEMLOCK */, 10 /* LOCKS */, 11, /* SIGPENDING */
	12 /* MSGQUEUE */, 13 /* NICE */, 14 /* RTPRIO */, 15, /* RTTIME */
}

// ownRequest describes this process.
func ownRequest(args, env []string) (*Request, error) {
	r := &Request{Args: args, Env: env}
	r.Umask = syscall.Umask(0)
	syscall.Umask(r.Umask)
	prio, err := getpriority()
	if err != nil {
		return nil, err
	}
	r.Nice = prio
	for _, res := range limitResources {
		var l syscall.Rlimit
		if err := syscall.Getrlimit(res, &l); err != nil {
			return nil, errors.New("reading resource limit " + strconv.Itoa(res) + ": " + err.Error())
		}
		r.Limits = append(r.Limits, Limit{Resource: res, Cur: l.Cur, Max: l.Max})
	}
	return r, nil
}

// getpriority returns this process's nice value (the system call returns
// 20 - nice).
func getpriority() (int, error) {
	v, _, errno := syscall.RawSyscall(syscall.SYS_GETPRIORITY, syscall.PRIO_PROCESS, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return 20 - int(v), nil
}

func (r *Request) encode() []byte {
	var e enc
	e.str("airlock-warm-1")
	e.strs(r.Args)
	e.strs(r.Env)
	e.u64(uint64(r.Umask))
	e.u64(uint64(int64(r.Nice)))
	e.u64(uint64(len(r.Limits)))
	for _, l := range r.Limits {
		e.u64(uint64(l.Resource))
		e.u64(l.Cur)
		e.u64(l.Max)
	}
	return e.b
}

func decodeRequest(b []byte) (*Request, error) {
	d := dec{b: b}
	if v := d.str(); v != "airlock-warm-1" {
		return nil, errors.New("warm: request of another version: " + strconv.Quote(v))
	}
	r := &Request{Args: d.strs(), Env: d.strs()}
	r.Umask = int(d.u64())
	r.Nice = int(int64(d.u64()))
	n := d.u64()
	if n > 64 {
		return nil, errShortFrame
	}
	for range n {
		r.Limits = append(r.Limits, Limit{Resource: int(d.u64()), Cur: d.u64(), Max: d.u64()})
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}
