// Command fsguest is a WASI guest for the policy filesystem's end-to-end
// tests. Each argument is one action, "op:arg:arg", run in order; each
// prints one line: "op ok [detail]" or "op err ERRNO perm=B notexist=B",
// where ERRNO is the name of the errno the guest saw and perm/notexist are
// errors.Is(err, fs.ErrPermission) and errors.Is(err, fs.ErrNotExist).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o fsguest.wasm .
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	for _, arg := range os.Args[1:] {
		parts := strings.Split(arg, ":")
		op, args := parts[0], parts[1:]
		detail, err := run(op, args)
		if err != nil {
			fmt.Printf("%s err %s perm=%t notexist=%t\n", op, errnoName(err),
				errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist))
			continue
		}
		if detail != "" {
			fmt.Printf("%s ok %s\n", op, detail)
		} else {
			fmt.Printf("%s ok\n", op)
		}
	}
}

func arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

func run(op string, args []string) (string, error) {
	a, b := arg(args, 0), arg(args, 1)
	switch op {
	case "read":
		data, err := os.ReadFile(a)
		return strconv.Quote(string(data)), err
	case "write":
		return "", os.WriteFile(a, []byte(b), 0o644)
	case "append":
		f, err := os.OpenFile(a, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		_, err = f.WriteString(b)
		return "", err
	case "create-excl":
		f, err := os.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return "", err
		}
		return "", f.Close()
	case "openwrite":
		f, err := os.OpenFile(a, os.O_WRONLY, 0)
		if err != nil {
			return "", err
		}
		return "", f.Close()
	case "truncate":
		n, _ := strconv.ParseInt(b, 10, 64)
		return "", os.Truncate(a, n)
	case "stat", "lstat":
		stat := os.Stat
		if op == "lstat" {
			stat = os.Lstat
		}
		fi, err := stat(a)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("mode=%v size=%d", fi.Mode(), fi.Size()), nil
	case "readdir":
		ents, err := os.ReadDir(a)
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		return strings.Join(names, ","), err
	case "mkdir":
		return "", os.Mkdir(a, 0o755)
	case "remove":
		return "", os.Remove(a)
	case "symlink":
		return "", os.Symlink(a, b)
	case "link":
		return "", os.Link(a, b)
	case "rename":
		return "", os.Rename(a, b)
	case "readlink":
		return os.Readlink(a)
	case "chtimes":
		t := time.Unix(1000000000, 0)
		return "", os.Chtimes(a, t, t)
	case "fchtimes":
		// times through a descriptor opened for reading
		f, err := os.Open(a)
		if err != nil {
			return "", err
		}
		defer f.Close()
		const setAtim, setMtim = 1, 4 // fstflags: atim, mtim
		if e := fdFilestatSetTimes(int32(f.Fd()), 1e18, 1e18, setAtim|setMtim); e != 0 {
			return "", syscall.Errno(e)
		}
		return "", nil
	case "open-many":
		n, _ := strconv.Atoi(b)
		var files []*os.File
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
		for i := 0; i < n; i++ {
			f, err := os.Open(a)
			if err != nil {
				return strconv.Itoa(i), fmt.Errorf("after %d: %w", i, err)
			}
			files = append(files, f)
		}
		return strconv.Itoa(n), nil
	}
	return "", fmt.Errorf("unknown op %q", op)
}

// fdFilestatSetTimes is WASI's fd_filestat_set_times, which Go's syscall
// package does not expose.
//
//go:wasmimport wasi_snapshot_preview1 fd_filestat_set_times
func fdFilestatSetTimes(fd int32, atim, mtim uint64, fstflags uint32) uint32

func errnoName(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "other(" + err.Error() + ")"
	}
	switch errno {
	case syscall.EACCES:
		return "EACCES"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EROFS:
		return "EROFS"
	case syscall.ELOOP:
		return "ELOOP"
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.EIO:
		return "EIO"
	case syscall.EBADF:
		return "EBADF"
	case syscall.ENOTDIR:
		return "ENOTDIR"
	case syscall.EISDIR:
		return "EISDIR"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ENOTEMPTY:
		return "ENOTEMPTY"
	case syscall.EXDEV:
		return "EXDEV"
	case syscall.ENOSYS:
		return "ENOSYS"
	case syscall.ENOTCAPABLE:
		return "ENOTCAPABLE"
	}
	return fmt.Sprintf("errno(%d)", int(errno))
}
