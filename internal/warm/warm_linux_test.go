package warm

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wall"
)

// This test binary plays the server, a worker and a foreign user's
// listener in processes of its own (testRole).
const roleEnv = "WARM_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(testRole(role))
	}
	os.Exit(m.Run())
}

func testRole(role string) int {
	ctx := context.Background()
	switch role {
	case "serve":
		refill, _ := time.ParseDuration(os.Getenv(refillEnv))
		err := Serve(ctx, ServeConfig{Socket: os.Getenv(SocketEnv), Nonce: os.Getenv(NonceEnv), RefillAfter: refill,
			Worker: []string{"/usr/bin/env", roleEnv + "=worker", os.Args[0]}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "worker":
		return Work(ctx, WorkConfig{
			Prepare: func(context.Context, []Hint) {},
			Run: func(ctx context.Context, r *Run) (int, []Hint) {
				fmt.Fprint(r.Stdout, "ran "+strings.Join(r.Args, " "))
				if len(r.Args) > 1 && r.Args[1] == "getwd" { // where the run is (TestRedTeam…)
					wd, _ := os.Getwd()
					fmt.Fprint(r.Stdout, " in "+wd)
				}
				if len(r.Args) > 1 && r.Args[1] == "stdin" { // a run that lasts until its stdin ends
					io.Copy(io.Discard, r.Stdin)
				}
				if len(r.Args) > 1 && r.Args[1] == "linger" { // a walled worker that ends long after its run (TestOutputEndsWithTheRun)
					if st, err := wall.Restrict(&wall.Plan{}); err != nil || !st.Up {
						fmt.Fprintln(os.Stderr, "no Landlock wall:", err, st.Reason)
					}
					r.Finally = func() { time.Sleep(time.Second) }
				}
				return 42, nil
			},
		})
	case "foreign":
		// Listen as another user; say how many bytes and descriptors
		// the one client that connects sends.
		path := os.Getenv(SocketEnv)
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			return 1
		}
		if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Chmod(path, 0o777)
		syscall.Listen(fd, 1)
		fmt.Println("listening")
		conn, _, err := syscall.Accept(fd)
		if err != nil {
			return 1
		}
		tv := syscall.Timeval{Sec: 3}
		syscall.SetsockoptTimeval(conn, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
		bytes, fds := 0, 0
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := syscall.Recvmsg(conn, buf, oob, 0)
			if err != nil || n == 0 {
				break
			}
			bytes += n
			if oobn > 0 {
				got, _ := parseRights(oob[:oobn])
				fds += len(got)
			}
		}
		fmt.Printf("%d bytes %d descriptors\n", bytes, fds)
		return 0
	}
	return redTeamRole(role)
}

// refillEnv sets the test server's RefillAfter.
const refillEnv = "WARM_TEST_REFILL"

// startServer runs Serve in a process of its own, with its secret in the
// environment it starts with, and returns its socket and pid.
func startServer(t *testing.T, nonce string, env ...string) (sock string, pid int) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "warm.sock")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=serve", SocketEnv+"="+sock, NonceEnv+"="+nonce)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := Ask(sock, false); err == nil && strings.Contains(st, "ready 1") {
			return sock, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request sends one request as a client would, with proof as the proof
// descriptor and out as the client's stdout, and returns what the server
// or the worker answered first and, when the run started, its status.
func request(t *testing.T, sock string, proof int, out *os.File) (kind byte, answer string, status string) {
	t.Helper()
	conn, err := dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(conn)
	cwd, err := syscall.Open(".", oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(cwd)
	req, err := ownRequest([]string{"run", "tool.wasm"}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if err := send(conn, kindRequest, req.encode(), 0, int(out.Fd()), 2, cwd, proof); err != nil {
		t.Fatal(err)
	}
	kind, payload, fds, err := recv(conn)
	closeAll(fds)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if kind != kindStarted {
		return kind, string(payload), ""
	}
	k, payload, fds, err := recv(conn)
	closeAll(fds)
	if err != nil || k != kindExit {
		t.Fatalf("no exit status: %v %c", err, k)
	}
	return kind, "", string(payload)
}

// The worker that takes a run's place starts once the run has ended, or
// once it has lasted RefillAfter: started at once, its start competed
// with the run for the cores. A run that lasts until its stdin ends
// shows it through the server's status: one worker (the busy one) while
// it runs under a RefillAfter of an hour; then an idle one. Under one of
// 50 ms the next starts while the run still goes.
func TestNextWorkerStartsAfterTheRun(t *testing.T) {
	// status is the server's "workers" and "ready" lines, as "2 1".
	status := func(t *testing.T, sock string) string {
		st, err := Ask(sock, false)
		if err != nil {
			t.Fatal(err)
		}
		var workers, ready string
		for line := range strings.Lines(st) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch k {
			case "workers":
				workers = v
			case "ready":
				ready = v
			}
		}
		return workers + " " + ready
	}
	waitFor := func(t *testing.T, sock, want string) {
		for deadline := time.Now().Add(10 * time.Second); status(t, sock) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("workers and ready %q, want %q", status(t, sock), want)
			}
		}
	}
	for _, tc := range []struct {
		refill string
		during string // workers and ready while the run goes
	}{{"1h", "1 0"}, {"50ms", "2 1"}} {
		t.Run(tc.refill, func(t *testing.T) {
			nonce := strings.Repeat("5e", 16)
			sock, pid := startServer(t, nonce, refillEnv+"="+tc.refill)
			proof, err := os.Open("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			defer proof.Close()
			conn, stdin := startRun(t, sock, int(proof.Fd()), "stdin")
			defer syscall.Close(conn)
			if tc.refill == "1h" {
				time.Sleep(300 * time.Millisecond)
				if got := status(t, sock); got != tc.during {
					t.Fatalf("workers and ready %q while the run goes, want %q (the busy one only)", got, tc.during)
				}
			} else {
				waitFor(t, sock, tc.during)
			}
			stdin.Close()
			if k, payload, fds, err := recv(conn); err != nil || k != kindExit || string(payload) != "42" {
				closeAll(fds)
				t.Fatalf("no exit status: %v %c %q", err, k, payload)
			}
			waitFor(t, sock, "1 1") // the run's worker has ended, the next is ready
		})
	}
}

// A reader of the client's output through a pipe (`out=$(airlock run …)`,
// an agent) sees its end with the exit status, not when the worker ends:
// the worker lets go of the client's streams before it sends the status
// and takes its engine down (release). Here the worker runs behind a
// Landlock wall that lets it open nothing, as a real run's worker does,
// and lingers 1 s after the run; the pipe must end while it is still
// alive. Without release, or with one that opens /dev/null only after the
// run (the wall refuses it), the read ends only when the worker does.
func TestOutputEndsWithTheRun(t *testing.T) {
	nonce := strings.Repeat("7a", 16)
	sock, pid := startServer(t, nonce)
	proof, err := os.Open("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	defer proof.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	conn, worker := sendRun(t, sock, int(proof.Fd()), "linger", 0, int(w.Fd()))
	w.Close() // the worker holds the only other copy
	defer syscall.Close(conn)
	if worker < 0 {
		t.Fatal("the worker's pidfd did not come with its start")
	}
	defer syscall.Close(worker)
	if k, payload, fds, err := recv(conn); err != nil || k != kindExit || string(payload) != "42" {
		closeAll(fds)
		t.Fatalf("no exit status: %v %c %q", err, k, payload)
	}
	out, err := io.ReadAll(r)
	if err != nil || string(out) != "ran run linger" {
		t.Fatalf("the client's output: %q %v", out, err)
	}
	if !alive(worker) {
		t.Fatal("the client's output ended only when its worker did: the worker held the client's stdout after the run")
	}
}

// startRun sends a request for `airlock run tool.wasm arg`, whose stdin is
// a pipe, and returns the connection once the worker has the run, and
// the pipe's end to write to.
func startRun(t *testing.T, sock string, proof int, arg string) (conn int, stdin *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Cleanup(func() { w.Close() })
	conn, worker := sendRun(t, sock, proof, arg, int(r.Fd()), 1)
	if worker >= 0 {
		syscall.Close(worker)
	}
	return conn, w
}

// sendRun sends a request for `airlock run arg` with the descriptors stdin
// and stdout, and returns the connection once the worker has the run, and
// the worker's pidfd that came with its start (-1 when none did).
func sendRun(t *testing.T, sock string, proof int, arg string, stdin, stdout int) (conn, worker int) {
	t.Helper()
	conn, err := dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	cwd, err := syscall.Open(".", oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(cwd)
	req, err := ownRequest([]string{"run", arg}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if err := send(conn, kindRequest, req.encode(), stdin, stdout, 2, cwd, proof); err != nil {
		t.Fatal(err)
	}
	kind, payload, fds, err := recv(conn)
	if err != nil || kind != kindStarted {
		closeAll(fds)
		t.Fatalf("the run did not start: %v %c %q", err, kind, payload)
	}
	worker = -1
	if len(fds) == 1 {
		worker = fds[0]
	} else {
		closeAll(fds)
	}
	return conn, worker
}

// A client proves it may read the server's memory (no Landlock domain,
// no LSM refusing it) with a descriptor of the server's environment,
// which holds the server's secret. A forged descriptor is declined: a
// file holding the secret (a client that guessed or stole it), or
// procfs but another process's environment. The real one is served, and
// the worker runs the request.
func TestDeclinesAForgedProof(t *testing.T) {
	nonce := strings.Repeat("7c", 16)
	sock, pid := startServer(t, nonce)
	file := filepath.Join(t.TempDir(), "environ")
	if err := os.WriteFile(file, []byte("HOME=/root\x00"+NonceEnv+"="+nonce+"\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path string }{
		{"a file holding the secret", file},
		{"the client's own environment", "/proc/self/environ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			kind, answer, _ := request(t, sock, int(f.Fd()), os.Stdout)
			if kind != kindDecline || !strings.Contains(answer, "cannot read the server's memory") {
				t.Fatalf("answer %c %q, want a decline", kind, answer)
			}
		})
	}
	t.Run("the server's environment", func(t *testing.T) {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		kind, answer, status := request(t, sock, int(f.Fd()), w)
		w.Close()
		out, _ := io.ReadAll(r)
		if kind != kindStarted || status != "42" || string(out) != "ran run tool.wasm" {
			t.Fatalf("answer %c %q, status %q, stdout %q: want the run served", kind, answer, status, out)
		}
	})
}

// The client sends nothing, no request and no descriptor, to a server
// of another user: it checks the peer's uid first. The foreign listener
// counts what it got.
func TestHandoffSendsNothingToAnotherUsersServer(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("playing another user needs root")
	}
	dir, err := os.MkdirTemp("", "warm-foreign")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	sock := filepath.Join(dir, "warm.sock")
	// A copy of this test binary that the other user may run.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "warm.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), roleEnv+"=foreign", SocketEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "listening\n" {
		t.Fatalf("the foreign listener did not start: %v %q", err, buf)
	}
	t.Setenv(SocketEnv, sock)
	t.Setenv(OffEnv, "")
	if Handoff([]string{"run", "tool.wasm"}, func(int) {}) {
		t.Fatal("handed off to another user's server")
	}
	got, _ := io.ReadAll(stdout)
	cmd.Wait()
	if string(got) != "0 bytes 0 descriptors\n" {
		t.Fatalf("the foreign listener got %q", got)
	}
}

// A server refuses a socket folder that anybody else can write to: there
// another user could put a socket of theirs in its place.
func TestServeRefusesAnOpenFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := Serve(context.Background(), ServeConfig{Socket: filepath.Join(dir, "warm.sock"), Nonce: "x", Worker: []string{"/bin/true"}})
	if err == nil || !strings.Contains(err.Error(), "nobody else can write to") {
		t.Fatalf("Serve: %v", err)
	}
}
