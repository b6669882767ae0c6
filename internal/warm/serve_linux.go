package warm

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// ServeConfig configures Serve.
type ServeConfig struct {
	Socket  string        // SocketPath() if empty
	Workers int           // workers kept started and prepared; 1 if 0
	Idle    time.Duration // stop after this long without a request; 0 never
	Worker  []string      // the command that starts a worker (Work)
	Nonce   string        // the value of NonceEnv in this process's own environment
	Log     func(line string)
	// RefillAfter is how long a run may go on before the worker that
	// takes its place starts, if the run has not ended by then;
	// DefaultRefillAfter if 0.
	RefillAfter time.Duration
}

type server struct {
	cfg  ServeConfig
	stop context.CancelFunc

	mu        sync.Mutex
	idle      []*worker
	all       map[*worker]bool
	hints     []Hint
	served    int
	declined  int
	reasons   []string // the last declines, the most recent last
	workerCPU time.Duration
	last      time.Time
}

type worker struct {
	log   *os.File // the server's log, in a worker
	proc  *os.Process
	ctl   int
	mu    sync.Mutex    // sends on ctl
	ready bool          // prepared every hint it was given (server.mu)
	ended chan struct{} // closed once the process has ended
}

// DefaultRefillAfter is how long a run may go on before the server starts
// the worker that takes its place, if the run has not ended by then: a
// worker's start (the Go runtime, airlock's packages, the compile of
// recent modules) takes both cores of a small machine for tens of
// milliseconds, and started at once it made the run it replaces a fifth
// slower (docs/warm.md, Figures). The run has ended when its worker has,
// and its client, which exits as soon as it has the status (clientExit at
// most).
const (
	DefaultRefillAfter = 100 * time.Millisecond
	clientExit         = 20 * time.Millisecond
)

func (w *worker) send(kind byte, payload []byte, fds ...int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return send(w.ctl, kind, payload, fds...)
}

// Serve listens on the socket until ctx ends, a client asks it to stop, or
// nobody asked anything for cfg.Idle, keeping cfg.Workers workers started
// and handing each request that passes Check to one of them. A worker ends
// with its run; Serve starts another in its place.
func Serve(ctx context.Context, cfg ServeConfig) error {
	if cfg.Socket == "" {
		cfg.Socket = SocketPath()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.RefillAfter <= 0 {
		cfg.RefillAfter = DefaultRefillAfter
	}
	if cfg.Log == nil {
		cfg.Log = func(string) {}
	}
	if len(cfg.Worker) == 0 || cfg.Nonce == "" {
		return errors.New("warm: Serve needs a worker command and a nonce")
	}
	lfd, err := listen(cfg.Socket)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s := &server{cfg: cfg, stop: stop, all: map[*worker]bool{}, last: time.Now()}
	defer s.shutdown()
	go func() {
		<-ctx.Done()
		syscall.Shutdown(lfd, syscall.SHUT_RDWR) // wakes Accept4
	}()
	if cfg.Idle > 0 {
		go s.expire(ctx)
	}
	s.refill()
	for {
		conn, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
		if err == syscall.EINTR || err == syscall.ECONNABORTED {
			continue
		}
		if err != nil {
			syscall.Close(lfd)
			os.Remove(cfg.Socket)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.handle(conn)
	}
}

// listen binds the socket in a folder only this user can write to,
// replacing a socket nobody serves.
func listen(path string) (int, error) {
	dir := dirOf(path)
	if path == SocketDir()+"/warm.sock" {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return -1, err
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return -1, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o022 != 0 {
		return -1, errors.New("warm: " + dir + " must be a folder of this user's that nobody else can write to")
	}
	if fd, err := dial(path); err == nil {
		syscall.Close(fd)
		return -1, errors.New("warm: a server already listens on " + path)
	}
	if err := syscall.Lstat(path, &st); err == nil {
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			return -1, errors.New("warm: " + path + " is there and is not a socket")
		}
		os.Remove(path)
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	old := syscall.Umask(0o177)
	err = syscall.Bind(fd, &syscall.SockaddrUnix{Name: path})
	syscall.Umask(old)
	if err == nil {
		err = syscall.Listen(fd, 64)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, errors.New("warm: listening on " + path + ": " + err.Error())
	}
	return fd, nil
}

func (s *server) expire(ctx context.Context) {
	t := time.NewTicker(s.cfg.Idle / 10)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			quiet := time.Since(s.last) > s.cfg.Idle
			s.mu.Unlock()
			if quiet {
				s.cfg.Log("no request for " + s.cfg.Idle.String() + ": stopping")
				s.stop()
				return
			}
		}
	}
}

func (s *server) handle(conn int) {
	defer syscall.Close(conn)
	tv := syscall.Timeval{Sec: 10}
	syscall.SetsockoptTimeval(conn, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	cred, err := syscall.GetsockoptUcred(conn, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil || int(cred.Uid) != os.Getuid() {
		return
	}
	// What Check reads in /proc/PID must be the connecting process's, not
	// another's that has its pid again: the client's pidfd shows it lived
	// throughout (a sandboxed process could connect, end, and wait for an
	// airlock process to reuse its pid).
	pidfd, err := peerPidfd(conn)
	if err != nil {
		pidfd = -1
	} else {
		defer syscall.Close(pidfd)
	}
	kind, payload, fds, err := recv(conn)
	if err != nil {
		return
	}
	switch kind {
	case kindStatus, kindStop:
		// Only a client that could have run here may stop the server (a
		// sandboxed process could otherwise take it away and listen in
		// its place) or read its status (the modules of recent runs, why
		// runs were declined).
		defer closeAll(fds)
		if len(fds) != 1 || pidfd < 0 || unlike(int(cred.Pid)) != "" || !provesAccess(fds[0], s.cfg.Nonce) || !alive(pidfd) {
			send(conn, kindDecline, []byte("the client could not run here"))
			return
		}
		send(conn, kindStatus, []byte(s.status()))
		if kind == kindStatus {
			return
		}
		s.stop()
	case kindRequest:
		s.request(conn, int(cred.Pid), pidfd, payload, fds)
	default:
		closeAll(fds)
	}
}

func (s *server) request(conn, pid, pidfd int, payload []byte, fds []int) {
	defer closeAll(fds)
	s.mu.Lock()
	s.last = time.Now()
	s.mu.Unlock()
	if len(fds) != nClientFDs && len(fds) != nClientFDs-1 {
		s.decline(conn, "a request without its descriptors")
		return
	}
	req, err := decodeRequest(payload)
	if err != nil {
		s.decline(conn, err.Error())
		return
	}
	if pidfd < 0 {
		s.decline(conn, "this kernel cannot name the client (SO_PEERPIDFD, Linux 6.5)")
		return
	}
	if why := Check(pid, fds[fdProof], s.cfg.Nonce, req); why != "" {
		s.decline(conn, why)
		return
	}
	cgs, cg := cgroupsOf(pid)
	if !alive(pidfd) { // after every read of /proc/PID
		s.decline(conn, "the client ended before it was checked")
		return
	}
	w, err := s.take()
	if err != nil {
		s.decline(conn, "starting a worker: "+err.Error())
		return
	}
	// The worker counts against the client's limits, not the server's:
	// it joins the client's cgroup (v2), and a client in another cgroup of
	// a v1 hierarchy, which a worker does not join, runs cold.
	if mine, v2 := cgroupsOf(w.proc.Pid); mine != cgs {
		if cg != "" && v2 != cg {
			if err := joinCgroup(w.proc.Pid, cg); err != nil {
				s.putBack(w)
				s.decline(conn, "cannot move a worker into the client's cgroup "+cg+": "+err.Error())
				return
			}
		}
		if mine, _ := cgroupsOf(w.proc.Pid); mine != cgs {
			w.proc.Kill() // it may be in the client's cgroup (v2) by now
			s.decline(conn, "another cgroup")
			go s.refill()
			return
		}
	}
	// The worker waits on the connection for as long as the run lasts.
	syscall.SetsockoptTimeval(conn, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{})
	var hand enc
	hand.u64(uint64(pid))
	hand.str(string(payload))
	if err := w.send(kindHand, hand.b, append([]int{conn}, fds...)...); err != nil {
		w.proc.Kill()
		s.decline(conn, "handing the run over: "+err.Error())
		return
	}
	s.mu.Lock()
	s.served++
	s.mu.Unlock()
	client, err := syscall.Dup(pidfd)
	if err != nil {
		client = -1
	}
	go func() {
		t := time.NewTimer(s.cfg.RefillAfter)
		defer t.Stop()
		select {
		case <-w.ended:
			if client >= 0 {
				waitEnd(client, clientExit)
			}
		case <-t.C:
		}
		if client >= 0 {
			syscall.Close(client)
		}
		s.refill()
	}()
}

// waitEnd waits until the process of pidfd has ended, or for d.
func waitEnd(pidfd int, d time.Duration) {
	fds := []pollFd{{fd: int32(pidfd), events: pollIn}}
	for end := time.Now().Add(d); ; {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		_, _, errno := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(left.Milliseconds()+1))
		if errno != syscall.EINTR {
			return
		}
	}
}

type pollFd struct {
	fd             int32
	events, revent int16
}

const pollIn = 0x1

func (s *server) decline(conn int, why string) {
	s.mu.Lock()
	s.declined++
	s.reasons = append(s.reasons, time.Now().Format(time.TimeOnly)+" "+why)
	if len(s.reasons) > 5 {
		s.reasons = s.reasons[1:]
	}
	s.mu.Unlock()
	s.cfg.Log("declined a run: " + why)
	send(conn, kindDecline, []byte(why))
}

// take returns an idle worker, the one started first, or a new one.
func (s *server) take() (*worker, error) {
	s.mu.Lock()
	if len(s.idle) > 0 {
		w := s.idle[0]
		s.idle = s.idle[1:]
		s.mu.Unlock()
		return w, nil
	}
	hints := s.hints
	s.mu.Unlock()
	return s.spawn(hints)
}

func (s *server) putBack(w *worker) {
	s.mu.Lock()
	s.idle = append([]*worker{w}, s.idle...)
	s.mu.Unlock()
}

// refill starts workers until cfg.Workers are idle.
func (s *server) refill() {
	for {
		s.mu.Lock()
		if len(s.idle) >= s.cfg.Workers {
			s.mu.Unlock()
			return
		}
		hints := s.hints
		s.mu.Unlock()
		w, err := s.spawn(hints)
		if err != nil {
			s.cfg.Log("starting a worker: " + err.Error())
			return
		}
		s.mu.Lock()
		s.idle = append(s.idle, w)
		s.mu.Unlock()
	}
}

func (s *server) spawn(hints []Hint) (*worker, error) {
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	theirs := os.NewFile(uintptr(pair[1]), "warm-control")
	defer theirs.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		syscall.Close(pair[0])
		return nil, err
	}
	defer null.Close()
	var env []string
	for _, kv := range os.Environ() {
		if !hasPrefix(kv, NonceEnv+"=") {
			env = append(env, kv)
		}
	}
	// os/exec is not imported: it starts too late for Handoff (package handoff).
	proc, err := os.StartProcess(s.cfg.Worker[0], s.cfg.Worker, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{null, null, os.Stderr, theirs}, // theirs is ControlFD
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		syscall.Close(pair[0])
		return nil, err
	}
	w := &worker{proc: proc, ctl: pair[0], ended: make(chan struct{})}
	s.mu.Lock()
	s.all[w] = true
	s.mu.Unlock()
	w.send(kindHints, encodeHints(hints))
	go s.watch(w)
	return w, nil
}

// watch reads what w says until it ends.
func (s *server) watch(w *worker) {
	for {
		kind, payload, fds, err := recv(w.ctl)
		closeAll(fds)
		if err != nil {
			break
		}
		switch kind {
		case kindReady:
			s.mu.Lock()
			w.ready = true
			s.mu.Unlock()
		case kindRan:
			hs, err := decodeHints(payload)
			if err != nil || len(hs) == 0 {
				continue
			}
			s.mu.Lock()
			s.hints = remember(s.hints, hs...)
			hints, idle := s.hints, append([]*worker(nil), s.idle...)
			for _, o := range idle {
				o.ready = false
			}
			s.mu.Unlock()
			for _, o := range idle {
				o.send(kindHints, encodeHints(hints))
			}
		}
	}
	st, _ := w.proc.Wait()
	close(w.ended)
	syscall.Close(w.ctl)
	s.mu.Lock()
	delete(s.all, w)
	for i, o := range s.idle {
		if o == w {
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			break
		}
	}
	if st != nil {
		s.workerCPU += st.UserTime() + st.SystemTime()
	}
	s.mu.Unlock()
}

// shutdown ends the idle workers (a worker with a run finishes it).
func (s *server) shutdown() {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, w := range idle {
		w.proc.Kill()
	}
}

func (s *server) status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ready := 0
	for _, w := range s.idle {
		if w.ready {
			ready++
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	own := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var b []byte
	line := func(k, v string) { b = append(b, k+" "+v+"\n"...) }
	line("pid", strconv.Itoa(os.Getpid()))
	line("socket", s.cfg.Socket)
	line("idle", strconv.Itoa(len(s.idle)))
	line("ready", strconv.Itoa(ready))
	line("workers", strconv.Itoa(len(s.all)))
	line("served", strconv.Itoa(s.served))
	line("declined", strconv.Itoa(s.declined))
	line("server-cpu-us", strconv.Itoa(int(own.Microseconds())))
	line("worker-cpu-us", strconv.Itoa(int(s.workerCPU.Microseconds())))
	for _, h := range s.hints {
		line("prepares", h.Path)
	}
	for _, r := range s.reasons {
		line("declined-because", r)
	}
	return string(b)
}

// Ask sends a status query, or a stop when stop is set, to the server on
// socket and returns its status text.
func Ask(socket string, stop bool) (string, error) {
	fd, err := dial(socket)
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil || int(cred.Uid) != os.Getuid() {
		return "", errors.New("warm: " + socket + " is served by another user")
	}
	// The server answers only a client that may read its memory (Check's
	// proof).
	proof, err := syscall.Open("/proc/"+strconv.Itoa(int(cred.Pid))+"/environ", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer syscall.Close(proof)
	kind := byte(kindStatus)
	if stop {
		kind = kindStop
	}
	if err := send(fd, kind, nil, proof); err != nil {
		return "", err
	}
	got, payload, extra, err := recv(fd)
	closeAll(extra)
	if err == nil && got == kindDecline {
		err = errors.New("warm: " + string(payload))
	}
	return string(payload), err
}
