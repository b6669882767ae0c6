package warm

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// The client's descriptors, in the order they ride with a request.
const (
	fdStdin = iota
	fdStdout
	fdStderr
	fdCwd
	fdProof // the server's /proc/PID/environ, opened by the client (Check)
	fdTTY   // only when the client has a terminal
	nClientFDs
)

// ExitLost is the status of a run whose worker ended without sending one
// (it was killed): airlock's own error, as docs/exit-status.md lists.
const ExitLost = 125

// forwarded are the signals a client passes on to its worker. SIGTSTP
// stops both (as SIGSTOP: the worker has no terminal to stop it).
var forwarded = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTSTP, syscall.SIGCONT,
}

// Handoff gives this `airlock run` (args without the program name) to the
// user's warm server when one is up and takes it, and calls exit with the
// run's exit status as soon as the worker sends it, before anything is
// cleaned up (os.Exit: undoing the signal forwarding alone took a
// millisecond). If exit returns, Handoff does clean up and returns true.
// With false nothing was handed off and nothing of the run happened: the
// caller runs it cold. Once the worker has the run, Handoff passes signals
// on to it until it sends the status.
func Handoff(args []string, exit func(code int)) bool {
	if len(args) < 1 || args[0] != "run" || Off() {
		return false
	}
	sock, err := dial(SocketPath())
	if err != nil {
		return false
	}
	defer syscall.Close(sock)
	cred, err := syscall.GetsockoptUcred(sock, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil || int(cred.Uid) != os.Getuid() {
		return false // nobody else's server runs our tools
	}
	// Nor a process of ours in a sandbox (another namespace, root, seccomp
	// or no_new_privs) that listens where the server would: it would get
	// the environment, the terminal and a descriptor of this directory
	// outside its sandbox, and tell us any exit status. The pidfd shows
	// that /proc/PID was the listener's.
	pidfd, err := peerPidfd(sock)
	if err != nil {
		return false
	}
	defer syscall.Close(pidfd)
	if unlike(int(cred.Pid)) != "" || !alive(pidfd) {
		return false
	}
	// Only a process that may read the server's memory can open this
	// (PTRACE_MODE_READ): not one inside a Landlock domain the server is
	// not in. The server checks what the descriptor holds.
	proof, err := syscall.Open("/proc/"+strconv.Itoa(int(cred.Pid))+"/environ", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(proof)
	cwd, err := syscall.Open(".", oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(cwd)
	req, err := ownRequest(args, os.Environ())
	if err != nil {
		return false
	}
	fds := []int{0, 1, 2, cwd, proof}
	if tty, err := syscall.Open("/dev/tty", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0); err == nil {
		defer syscall.Close(tty)
		fds = append(fds, tty)
	}
	if err := send(sock, kindRequest, req.encode(), fds...); err != nil {
		return false
	}
	kind, payload, extra, err := recv(sock)
	if err != nil || kind != kindStarted {
		closeAll(extra)
		return false // declined, or gone before the run began
	}
	// The worker's pidfd rides with its start: signals go to that very
	// process, never to one that got its pid again.
	worker := -1
	if len(extra) == 1 {
		worker = extra[0]
	} else {
		closeAll(extra)
		pid, _ := strconv.Atoi(string(payload))
		if fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0); errno == 0 {
			worker = int(fd)
		}
	}
	stop := forward(worker)
	defer stop()
	for {
		kind, payload, extra, err := recv(sock)
		closeAll(extra)
		if err != nil {
			syscall.Write(2, []byte("airlock: the warm worker running this tool ended without an exit status (docs/warm.md)\n"))
			exit(ExitLost)
			return true
		}
		if kind == kindExit {
			code, err := strconv.Atoi(string(payload))
			if err != nil {
				code = ExitLost
			}
			exit(code)
			return true
		}
	}
}

func dial(path string) (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// forward passes the signals this process gets on to the worker through
// its pidfd, which it closes when stopped.
func forward(pidfd int) (stop func()) {
	if pidfd < 0 {
		return func() {}
	}
	c := make(chan os.Signal, 16)
	signal.Notify(c, forwarded...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-c:
				sig := s.(syscall.Signal)
				if sig == syscall.SIGTSTP {
					// Ctrl-Z: the worker stops, and so does this process,
					// for the shell to see; SIGCONT resumes both.
					pidfdSignal(int(pidfd), syscall.SIGSTOP)
					syscall.Kill(os.Getpid(), syscall.SIGSTOP)
					continue
				}
				pidfdSignal(int(pidfd), sig)
			}
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
		syscall.Close(int(pidfd))
	}
}

const (
	sysPidfdOpen       = 434
	sysPidfdSendSignal = 424
)

func pidfdSignal(pidfd int, sig syscall.Signal) error {
	_, _, errno := syscall.Syscall6(sysPidfdSendSignal, uintptr(pidfd), uintptr(sig), 0, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

const oPath = 0x200000 // O_PATH: a directory to fchdir to, not to read
