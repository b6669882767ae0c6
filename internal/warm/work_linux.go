package warm

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// WorkConfig is what a worker does.
type WorkConfig struct {
	// Prepare compiles the modules the hints name, before any request;
	// it is called in the background, one call at a time, again when the
	// server learns of more. A run does not wait for it.
	Prepare func(ctx context.Context, hints []Hint)
	// Run runs a request exactly as a cold airlock would, in this process
	// now set up as the client (apply), and returns its exit status and
	// what it compiled, for the next workers to prepare.
	Run func(ctx context.Context, r *Run) (code int, ran []Hint)
}

// Run is a request as a worker runs it.
type Run struct {
	Args                  []string // without the program name
	Stdin, Stdout, Stderr *os.File // the client's, now this process's 0, 1 and 2
	TTY                   *os.File // the client's terminal, nil when it had none
	// Finally, if Run sets it, is called after the client has the exit
	// status, before the process ends.
	Finally func()
}

// ControlFD is where a worker finds its connection to the server.
const ControlFD = 3

// Work waits for the server's request on ControlFD, preparing what the
// server names meanwhile, runs it, and ends the process with the run's
// exit status: nothing may run after a run, whose tool may still spin
// where it was abandoned (a timeout, a signal). It returns 0 when the
// server went away first.
func Work(ctx context.Context, cfg WorkConfig) int {
	w := &worker{ctl: ControlFD}
	hints := make(chan []Hint, 1)
	go func() {
		for hs := range hints {
			cfg.Prepare(ctx, hs)
			w.send(kindReady, nil)
		}
	}()
	for {
		kind, payload, fds, err := recv(w.ctl)
		if err != nil {
			return 0
		}
		switch kind {
		case kindHints:
			if hs, err := decodeHints(payload); err == nil {
				select {
				case hints <- hs:
				default: // the next Prepare sees the newer list instead
					select {
					case <-hints:
					default:
					}
					hints <- hs
				}
			}
		case kindHand:
			os.Exit(w.run(ctx, cfg, payload, fds))
		default:
			closeAll(fds)
		}
	}
}

func (w *worker) run(ctx context.Context, cfg WorkConfig, payload []byte, fds []int) int {
	if len(fds) < 1+nClientFDs-1 {
		closeAll(fds)
		return ExitLost
	}
	conn, client := fds[0], fds[1:]
	defer syscall.Close(conn)
	syscall.Close(client[fdProof])
	// What the worker says goes to the server's log, not to the client's
	// stderr, which the run's stderr becomes.
	if fd, err := syscall.Dup(2); err == nil {
		syscall.CloseOnExec(fd)
		w.log = os.NewFile(uintptr(fd), "server-log")
	}
	d := dec{b: payload}
	pid := int(d.u64())
	req, err := decodeRequest([]byte(d.str()))
	if err == nil {
		err = apply(req, client)
	}
	if err != nil {
		send(conn, kindDecline, []byte(err.Error()))
		return 0
	}
	w.logf("running the run of client " + strconv.Itoa(pid))
	self, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(os.Getpid()), 0, 0)
	var selfFDs []int
	if errno == 0 {
		selfFDs = []int{int(self)}
	}
	err = send(conn, kindStarted, []byte(strconv.Itoa(os.Getpid())), selfFDs...)
	closeAll(selfFDs)
	if err != nil {
		return 0 // the client is gone before the run began
	}
	// A client that goes away (killed) hangs the run up, as a closed
	// terminal would: the run stops and its records are written.
	var finished atomic.Bool
	go func() {
		for {
			_, _, got, err := recv(conn)
			closeAll(got)
			if err != nil {
				if !finished.Load() {
					w.logf("the client went away (" + err.Error() + "): hanging the run up")
					syscall.Kill(os.Getpid(), syscall.SIGHUP)
				}
				return
			}
		}
	}()
	r := &Run{Args: req.Args,
		Stdin: os.NewFile(0, "/dev/stdin"), Stdout: os.NewFile(1, "/dev/stdout"), Stderr: os.NewFile(2, "/dev/stderr")}
	if len(client) > fdTTY {
		r.TTY = os.NewFile(uintptr(client[fdTTY]), "/dev/tty")
	}
	// Opened now: the run raises a Landlock wall around this process,
	// behind which /dev/null cannot be opened (release).
	null, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		null = -1
	}
	start, cpu := time.Now(), cpuTime()
	code, ran := cfg.Run(ctx, r)
	finished.Store(true)
	log := -1
	if w.log != nil {
		log = int(w.log.Fd())
	}
	release(r, null, log)
	send(conn, kindExit, []byte(strconv.Itoa(code)))
	w.logf("exit " + strconv.Itoa(code) + " after " + time.Since(start).Round(10*time.Microsecond).String() +
		" (" + (cpuTime() - cpu).Round(10*time.Microsecond).String() + " of CPU)")
	if len(ran) > 0 {
		w.send(kindRan, encodeHints(ran))
	}
	if r.Finally != nil {
		r.Finally()
	}
	return code
}

// release lets go of the client's standard streams and terminal once the
// run is over, before its exit status is sent: a reader of the client's
// output through a pipe (`out=$(airlock run …)`, an agent, CI) sees its
// end only when every copy of the pipe is closed, this process's too, and
// would otherwise also wait for what the worker does after the status
// (the engine taken down, the process's end). null, a descriptor of
// /dev/null opened before the run, takes the numbers of stdin, stdout and
// the terminal, and log (the server's log, -1 for none) that of stderr,
// where a panic after the status is then written: no number is freed for
// something opened later to get. Without null (-1) they stay.
func release(r *Run, null, log int) {
	if null < 0 {
		return
	}
	if r.TTY != nil {
		syscall.Dup3(null, int(r.TTY.Fd()), syscall.O_CLOEXEC)
	}
	if log < 0 {
		log = null
	}
	syscall.Dup3(null, 0, 0)
	syscall.Dup3(null, 1, 0)
	syscall.Dup3(log, 2, 0)
	syscall.Close(null)
}

// apply makes this process the client as far as a run can tell: its
// working directory, umask, resource limits, priority, environment and
// standard streams (client holds the client's descriptors, fdStdin…).
func apply(req *Request, client []int) error {
	if err := syscall.Fchdir(client[fdCwd]); err != nil {
		return errors.New("entering the client's directory: " + err.Error())
	}
	syscall.Close(client[fdCwd])
	syscall.Umask(req.Umask)
	for _, l := range req.Limits {
		if err := syscall.Setrlimit(l.Resource, &syscall.Rlimit{Cur: l.Cur, Max: l.Max}); err != nil {
			return errors.New("taking the client's resource limit " + strconv.Itoa(l.Resource) + ": " + err.Error())
		}
	}
	if nice, err := getpriority(); err != nil || nice != req.Nice {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, req.Nice); err != nil {
			return errors.New("taking the client's priority: " + err.Error())
		}
	}
	os.Clearenv()
	for _, kv := range req.Env {
		if k, v, ok := cut(kv, "="); ok && k != "" {
			os.Setenv(k, v)
		}
	}
	for i, fd := range client[:fdCwd] {
		if err := syscall.Dup3(fd, i, 0); err != nil {
			return errors.New("taking the client's standard streams: " + err.Error())
		}
		syscall.Close(fd)
	}
	return nil
}

// logf writes a line to the server's log (fmt is not imported: see
// package handoff).
func (w *worker) logf(line string) {
	if w.log != nil {
		w.log.WriteString(time.Now().Format(time.RFC3339) + " airlock warm: worker " + strconv.Itoa(os.Getpid()) + ": " + line + "\n")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
