package warm

import (
	"bufio"
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
)

// Roles of the red-team tests (testRole).
func redTeamRole(role string) int {
	switch role {
	case "fake":
		// A same-user process in a sandbox of its own (mount and network
		// namespaces) where the folder HIDE is out of sight, listening
		// where clients look for the warm server.
		hide := os.Getenv("HIDE")
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			fmt.Println("mount:", err)
			return 1
		}
		if err := syscall.Mount("tmpfs", hide, "tmpfs", 0, ""); err != nil {
			fmt.Println("mount:", err)
			return 1
		}
		if _, err := os.ReadFile(hide + "/secret.txt"); err == nil {
			fmt.Println("the sandbox shows the secret")
			return 1
		}
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			return 1
		}
		if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: os.Getenv(SocketEnv)}); err != nil {
			fmt.Println(err)
			return 1
		}
		syscall.Listen(fd, 1)
		fmt.Println("listening")
		conn, _, err := syscall.Accept(fd)
		if err != nil {
			return 1
		}
		tv := syscall.Timeval{Sec: 3}
		syscall.SetsockoptTimeval(conn, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
		_, payload, fds, err := recv(conn)
		if err != nil {
			fmt.Println("nothing received:", err)
			return 0
		}
		req, _ := decodeRequest(payload)
		if v, ok := lookup(req.Env, "REDTEAM_TOKEN"); ok {
			fmt.Println("env REDTEAM_TOKEN=" + v)
		}
		// The client's directory, outside this sandbox.
		if len(fds) > fdCwd {
			if f, err := syscall.Openat(fds[fdCwd], "secret.txt", syscall.O_RDONLY, 0); err == nil {
				b := make([]byte, 100)
				n, _ := syscall.Read(f, b)
				fmt.Println("file " + string(b[:n]))
			}
		}
		// A run that never happened, with the status this process picks.
		send(conn, kindStarted, []byte(strconv.Itoa(os.Getpid())))
		send(conn, kindExit, []byte("0"))
		return 0
	case "connect":
		// Connects the socket it was given (3) and ends: the connection
		// lives on in the process that gave it.
		if err := syscall.Connect(3, &syscall.SockaddrUnix{Name: os.Getenv(SocketEnv)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "idle":
		time.Sleep(time.Minute)
		return 0
	case "chrooted":
		// A client that enters a chroot after it has connected and opened
		// its proof, and asks for a run there.
		sock, root := os.Getenv(SocketEnv), os.Getenv("ROOT")
		conn, err := dial(sock)
		if err != nil {
			return 1
		}
		cred, _ := syscall.GetsockoptUcred(conn, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		proof, err := syscall.Open("/proc/"+strconv.Itoa(int(cred.Pid))+"/environ", syscall.O_RDONLY, 0)
		if err != nil {
			return 1
		}
		if err := syscall.Chroot(root); err != nil {
			fmt.Println("chroot:", err)
			return 1
		}
		syscall.Chdir("/")
		cwd, _ := syscall.Open(".", oPath|syscall.O_DIRECTORY, 0)
		req, _ := ownRequest([]string{"run", "getwd"}, os.Environ())
		send(conn, kindRequest, req.encode(), 0, 1, 2, cwd, proof)
		kind, payload, _, err := recv(conn)
		if err != nil {
			fmt.Println("no answer")
			return 1
		}
		if kind == kindStarted {
			recv(conn) // the exit status
			fmt.Println()
		} else {
			fmt.Printf("declined: %s\n", payload)
		}
		return 0
	case "stopper":
		if st, err := Ask(os.Getenv(SocketEnv), false); err != nil {
			fmt.Println("status refused:", err)
		} else {
			fmt.Printf("status %q\n", st)
		}
		if _, err := Ask(os.Getenv(SocketEnv), true); err != nil {
			fmt.Println("refused:", err)
		} else {
			fmt.Println("stopped")
		}
		return 0
	}
	return 2
}

func needRoot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (namespaces, chroot, ns_last_pid)")
	}
}

// A same-user process in a sandbox (here another mount and network
// namespace, where the client's folder is hidden) listens on the socket
// path (it needs only write access to the socket folder, e.g. /tmp when
// XDG_RUNTIME_DIR is unset, and may stop the real server first). The
// client checks only the peer's uid, so it hands the sandbox its whole
// environment, its terminal and stdio, a descriptor of its directory
// outside the sandbox, and believes the exit status it is told.
func TestRedTeamHandoffTrustsASandboxedServer(t *testing.T) {
	needRoot(t)
	hide := t.TempDir()
	if err := os.WriteFile(filepath.Join(hide, "secret.txt"), []byte("s3cret-bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "warm.sock")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=fake", SocketEnv+"="+sock, "HIDE="+hide)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "listening\n" {
		t.Fatalf("the fake server did not start: %v %q", err, line)
	}
	t.Setenv(SocketEnv, sock)
	t.Setenv(OffEnv, "")
	t.Setenv("REDTEAM_TOKEN", "tok-123")
	t.Chdir(hide)
	code := -1
	ok := Handoff([]string{"run", "tool.wasm"}, func(c int) { code = c })
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(stdout); done <- b }()
	var got []byte
	select {
	case got = <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		got = <-done
	}
	cmd.Wait()
	if ok || strings.Contains(string(got), "tok-123") || strings.Contains(string(got), "s3cret") {
		t.Fatalf("handed off to a sandboxed server (ok %v, exit %d); it got:\n%s", ok, code, got)
	}
}

// The server takes the pid SO_PEERCRED names and reads /proc/PID after
// the request came. A sandboxed client (here another network namespace)
// connects from a process that then ends; once its pid is used again by
// an unsandboxed airlock process (pid_max is often 32768: cycling pids
// takes a second), the request passes Check and a worker runs it outside
// the sandbox. Here ns_last_pid makes the reuse certain.
func TestRedTeamCheckFollowsARecycledPid(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/sys/kernel/ns_last_pid"); err != nil {
		t.Skip("no ns_last_pid")
	}
	sock, srv := startServer(t, strings.Repeat("5a", 16))
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			t.Skip("could not get the pid back")
		}
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		sfile := os.NewFile(uintptr(fd), "sock")
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), roleEnv+"=connect", SocketEnv+"="+sock)
		c.ExtraFiles = []*os.File{sfile}
		c.Stderr = os.Stderr
		c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		sandboxed := c.Process.Pid
		// The pid comes back to an unsandboxed airlock process.
		os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(sandboxed-1)), 0)
		idle := exec.Command(os.Args[0])
		idle.Env = append(os.Environ(), roleEnv+"=idle")
		idle.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := idle.Start(); err != nil {
			t.Fatal(err)
		}
		if idle.Process.Pid != sandboxed {
			idle.Process.Kill()
			idle.Wait()
			sfile.Close()
			continue
		}
		defer func() { idle.Process.Kill(); idle.Wait() }()
		proof, err := os.Open("/proc/" + strconv.Itoa(srv) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		defer proof.Close()
		cwd, _ := syscall.Open(".", oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		r, w, _ := os.Pipe()
		req, _ := ownRequest([]string{"run", "tool.wasm"}, os.Environ())
		if err := send(fd, kindRequest, req.encode(), 0, int(w.Fd()), 2, cwd, int(proof.Fd())); err != nil {
			t.Fatal(err)
		}
		w.Close()
		kind, payload, _, err := recv(fd)
		if err != nil {
			t.Fatal(err)
		}
		if kind == kindStarted {
			recv(fd)
			out, _ := io.ReadAll(r)
			t.Fatalf("a request from a process in another network namespace was run by a worker (pid %d reused): %q", sandboxed, out)
		}
		t.Logf("declined: %s", payload)
		sfile.Close()
		return
	}
}

// A chroot does not show in the namespaces or the status: a client inside
// one has its run done by a worker whose root is the server's.
func TestRedTeamDeclinesAChrootedClient(t *testing.T) {
	needRoot(t)
	sock, _ := startServer(t, strings.Repeat("6b", 16))
	root := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=chrooted", SocketEnv+"="+sock, "ROOT="+root)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "declined") {
		t.Fatalf("a chrooted client's run was done outside its root: %q", out)
	}
}

// Stopping the server asks for nothing: a sandboxed process of the user's
// (another network namespace here) takes it away, and can then listen in
// its place (TestRedTeamHandoffTrustsASandboxedServer).
func TestRedTeamSandboxedProcessStopsTheServer(t *testing.T) {
	needRoot(t)
	sock, _ := startServer(t, strings.Repeat("7d", 16))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=stopper", SocketEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	cmd.Stderr = os.Stderr
	out, _ := cmd.Output()
	time.Sleep(200 * time.Millisecond)
	if _, err := Ask(sock, false); err != nil {
		t.Fatalf("a process in another network namespace stopped the server (%q): %v", out, err)
	}
	if !strings.HasPrefix(string(out), "status refused:") {
		t.Fatalf("a process in another network namespace read the server's status: %q", out)
	}
}
