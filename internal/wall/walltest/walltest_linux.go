//go:build linux

package walltest

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ExecWithoutLandlock replaces this process with the program argv[0], under
// a seccomp filter that answers landlock_create_ruleset with ENOSYS, as a
// kernel without Landlock does. The filter stays on the program and its
// children. It returns only on error.
func ExecWithoutLandlock(argv, env []string) error {
	runtime.LockOSThread() // the filter is installed on this thread, which execs
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_LANDLOCK_CREATE_RULESET},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return syscall.Exec(argv[0], argv, env)
}

// Main is called first in a test binary's TestMain: when the binary was
// started by Command, it execs the program given there and never returns.
func Main() {
	v, ok := os.LookupEnv(EnvExec)
	if !ok {
		return
	}
	var argv []string
	if err := json.Unmarshal([]byte(v), &argv); err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "walltest: bad %s: %q\n", EnvExec, v)
		os.Exit(2)
	}
	env := os.Environ()
	for i, kv := range env {
		if len(kv) > len(EnvExec) && kv[:len(EnvExec)+1] == EnvExec+"=" {
			env = append(env[:i], env[i+1:]...)
			break
		}
	}
	err := ExecWithoutLandlock(argv, env)
	fmt.Fprintf(os.Stderr, "walltest: %v\n", err)
	os.Exit(2)
}

// Args returns the environment entry that makes a test binary calling Main
// exec argv without Landlock: run os.Args[0] with it added to the
// environment.
func Args(argv ...string) string {
	b, _ := json.Marshal(argv)
	return EnvExec + "=" + string(b)
}
