package warm

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// NonceEnv carries the server's secret in its own environment, where only a
// process allowed to read its memory can see it: /proc/PID/environ.
const NonceEnv = "AIRLOCK_WARM_NONCE"

// runtimeEnv are the variables the Go runtime reads as a process starts:
// a worker started with other values would not run as the client would.
var runtimeEnv = []string{"GODEBUG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GOTRACEBACK"}

// statusFields are the lines of /proc/PID/status that say what a process
// may do: a worker runs a client's request only when the two agree.
var statusFields = []string{
	"Uid:", "Gid:", "Groups:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:",
	"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
}

var namespaces = []string{"mnt", "net", "user", "pid", "ipc", "uts", "cgroup", "time"}

// Check returns why the client with pid must run its request itself, or ""
// when a worker of this server may run it for it. A worker is a child of
// the server and has what the server has, so the client must have no less:
//
//   - the same program (a build of airlock is what the client would run);
//   - the same namespaces, so the same files, network and processes;
//   - the same credentials, capabilities, no_new_privs and seccomp state,
//     and the same security label (AppArmor, SELinux);
//   - the right to read the server's memory: proof is the server's
//     /proc/PID/environ, opened by the client, which the kernel allows
//     only a process that may trace the server, and never one inside a
//     Landlock domain the server is not in. It must hold nonce;
//   - the same values of what the Go runtime reads as it starts.
func Check(pid int, proof int, nonce string, req *Request) string {
	if !sameFile("/proc/self/exe", "/proc/"+strconv.Itoa(pid)+"/exe") {
		return "another airlock program"
	}
	if why := unlike(pid); why != "" {
		return why
	}
	if !provesAccess(proof, nonce) {
		return "cannot read the server's memory (a Landlock domain?)"
	}
	for _, k := range runtimeEnv {
		if v, _ := lookup(req.Env, k); v != os.Getenv(k) {
			return "another " + k
		}
	}
	return ""
}

// unlike returns how the process pid may do other than this one ("" for
// nothing /proc shows): another root directory (a chroot shows nowhere
// else), namespace, credentials or label. Both ends ask it: the server of
// its client, the client of its server (which then sends nothing: another
// program of the user's is left to the server to decline, where status
// shows why).
func unlike(pid int) string {
	self := "/proc/self/"
	peer := "/proc/" + strconv.Itoa(pid) + "/"
	if !sameFile(self+"root", peer+"root") {
		return "another root directory (a chroot)"
	}
	for _, ns := range namespaces {
		var a syscall.Stat_t
		if err := syscall.Stat(self+"ns/"+ns, &a); err != nil {
			continue // a namespace this kernel does not have
		}
		if !sameFile(self+"ns/"+ns, peer+"ns/"+ns) {
			return "another " + ns + " namespace"
		}
	}
	mine, err1 := statusOf(self)
	theirs, err2 := statusOf(peer)
	if err1 != nil || err2 != nil {
		return "cannot read the process status"
	}
	for _, f := range statusFields {
		if mine[f] != theirs[f] {
			return "another " + f[:len(f)-1] + " (" + theirs[f] + ")"
		}
	}
	a, _ := os.ReadFile(self + "attr/current")
	b, _ := os.ReadFile(peer + "attr/current")
	if !bytes.Equal(a, b) {
		return "another security label"
	}
	return ""
}

const soPeerPidfd = 77 // SO_PEERPIDFD, Linux 6.5

// peerPidfd returns a pidfd of the process at the other end of the socket
// fd, as it was when it connected or listened: unlike its pid, which
// another process may have by now, it names that process only.
func peerPidfd(fd int) (int, error) {
	return syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, soPeerPidfd)
}

// alive reports whether the process of pidfd has not ended: until it has,
// its pid is its own, and what /proc/PID showed meanwhile was about it.
func alive(pidfd int) bool { return pidfdSignal(pidfd, 0) == nil }

func sameFile(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

func statusOf(dir string) (map[string]string, error) {
	b, err := os.ReadFile(dir + "status")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range lines(string(b)) {
		if k, v, ok := cut(line, "\t"); ok {
			m[k] = trimSpace(v)
		}
	}
	return m, nil
}

const procSuperMagic = 0x9fa0

// provesAccess reports whether fd is a file of procfs holding the nonce
// variable: the server's environment, read through the client's own right.
func provesAccess(fd int, nonce string) bool {
	if nonce == "" {
		return false
	}
	var fs syscall.Statfs_t
	if syscall.Fstatfs(fd, &fs) != nil || fs.Type != procSuperMagic {
		return false
	}
	var buf bytes.Buffer
	chunk := make([]byte, 4096)
	for buf.Len() < 1<<20 {
		n, err := syscall.Pread(fd, chunk, int64(buf.Len()))
		if n <= 0 || err != nil {
			break
		}
		buf.Write(chunk[:n])
	}
	for _, kv := range bytes.Split(buf.Bytes(), []byte{0}) {
		if string(kv) == NonceEnv+"="+nonce {
			return true
		}
	}
	return false
}

func lookup(env []string, key string) (string, bool) {
	for _, kv := range env { // the first wins, as in the Go runtime
		if k, v, ok := cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// cgroupsOf is every cgroup of a process (/proc/PID/cgroup, "" when
// unknown) and its cgroup v2 path ("" when none).
func cgroupsOf(pid int) (all, v2 string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", ""
	}
	for _, line := range lines(string(b)) {
		if l := trimSpace(line); hasPrefix(l, "0::") {
			v2 = l[3:]
		}
	}
	return string(b), v2
}

// joinCgroup moves pid into the cgroup path (v2), so that a worker counts
// against the client's limits (memory, CPU, processes) as the client would.
func joinCgroup(pid int, path string) error {
	if index(path, "..") >= 0 || !hasPrefix(path, "/") {
		return syscall.EINVAL
	}
	f, err := os.OpenFile("/sys/fs/cgroup"+path+"/cgroup.procs", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(strconv.Itoa(pid))
	return err
}
