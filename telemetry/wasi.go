package telemetry

import (
	"strconv"

	"github.com/tetratelabs/wazero/api"
)

// wasiArgs says where a WASI preview 1 function keeps the arguments worth
// putting on its span: indexes into its parameters, -1 for none. Results
// that WASI passes back through guest memory ("result pointers") are read
// after the call, and only when it returned success.
type wasiArgs struct {
	fd       int8 // the file descriptor acted on
	path     int8 // a (pointer, length) pair naming a guest path
	path2    int8 // a second path: rename and link targets, symlink names
	nbytes   int8 // a result pointer to the u32 count of bytes moved
	lenParam int8 // a parameter that is itself the byte count (random_get)
	opened   int8 // a result pointer to the u32 descriptor opened
	exit     bool // proc_exit: parameter 0 is the exit code, there is no errno
}

var noArgs = wasiArgs{fd: -1, path: -1, path2: -1, nbytes: -1, lenParam: -1, opened: -1}

// wasiTable lists the WASI functions with arguments worth recording. Every
// other WASI function is recorded by name, duration and errno only; any fd_*
// function not listed has its descriptor in parameter 0.
var wasiTable = map[string]wasiArgs{
	"fd_read":                 {fd: 0, path: -1, path2: -1, nbytes: 3, lenParam: -1, opened: -1},
	"fd_write":                {fd: 0, path: -1, path2: -1, nbytes: 3, lenParam: -1, opened: -1},
	"fd_pread":                {fd: 0, path: -1, path2: -1, nbytes: 4, lenParam: -1, opened: -1},
	"fd_pwrite":               {fd: 0, path: -1, path2: -1, nbytes: 4, lenParam: -1, opened: -1},
	"fd_readdir":              {fd: 0, path: -1, path2: -1, nbytes: 4, lenParam: -1, opened: -1},
	"path_create_directory":   {fd: 0, path: 1, path2: -1, nbytes: -1, lenParam: -1, opened: -1},
	"path_filestat_get":       {fd: 0, path: 2, path2: -1, nbytes: -1, lenParam: -1, opened: -1},
	"path_filestat_set_times": {fd: 0, path: 2, path2: -1, nbytes: -1, lenParam: -1, opened: -1},
	"path_link":               {fd: 0, path: 2, path2: 5, nbytes: -1, lenParam: -1, opened: -1},
	"path_open":               {fd: 0, path: 2, path2: -1, nbytes: -1, lenParam: -1, opened: 8},
	"path_readlink":           {fd: 0, path: 1, path2: -1, nbytes: 5, lenParam: -1, opened: -1},
	"path_remove_directory":   {fd: 0, path: 1, path2: -1, nbytes: -1, lenParam: -1, opened: -1},
	"path_rename":             {fd: 0, path: 1, path2: 4, nbytes: -1, lenParam: -1, opened: -1},
	"path_symlink":            {fd: 2, path: 0, path2: 3, nbytes: -1, lenParam: -1, opened: -1},
	"path_unlink_file":        {fd: 0, path: 1, path2: -1, nbytes: -1, lenParam: -1, opened: -1},
	"random_get":              {fd: -1, path: -1, path2: -1, nbytes: -1, lenParam: 1, opened: -1},
	"sock_accept":             {fd: 0, path: -1, path2: -1, nbytes: -1, lenParam: -1, opened: 2},
	"sock_recv":               {fd: 0, path: -1, path2: -1, nbytes: 4, lenParam: -1, opened: -1},
	"sock_send":               {fd: 0, path: -1, path2: -1, nbytes: 4, lenParam: -1, opened: -1},
	"sock_shutdown":           {fd: 0, path: -1, path2: -1, nbytes: -1, lenParam: -1, opened: -1},
	"proc_exit":               {fd: -1, path: -1, path2: -1, nbytes: -1, lenParam: -1, opened: -1, exit: true},
}

func wasiArgsFor(name string) wasiArgs {
	if a, ok := wasiTable[name]; ok {
		return a
	}
	a := noArgs
	if len(name) > 3 && name[:3] == "fd_" {
		a.fd = 0
	}
	return a
}

// maxPath bounds how much of a guest path is copied into a span.
const maxPath = 4096

// guestString reads the (ptr, length) string at stack[i], stack[i+1] from
// the guest's memory, "" when it is out of range. It never panics.
func guestString(mod api.Module, stack []uint64, i int8) string {
	if i < 0 || int(i)+1 >= len(stack) {
		return ""
	}
	ptr, n := uint32(stack[i]), uint32(stack[i+1])
	if n > maxPath {
		n = maxPath
	}
	mem := mod.Memory()
	if mem == nil {
		return ""
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return ""
	}
	return string(b)
}

// guestU32 reads a little-endian u32 at ptr; ok is false out of range.
func guestU32(mod api.Module, ptr uint32) (uint32, bool) {
	mem := mod.Memory()
	if mem == nil {
		return 0, false
	}
	return mem.ReadUint32Le(ptr)
}

// errnoNames are WASI preview 1's errno values, by number, as wazero and
// the WASI headers spell them.
var errnoNames = [...]string{
	"ESUCCESS", "E2BIG", "EACCES", "EADDRINUSE", "EADDRNOTAVAIL", "EAFNOSUPPORT", "EAGAIN",
	"EALREADY", "EBADF", "EBADMSG", "EBUSY", "ECANCELED", "ECHILD", "ECONNABORTED",
	"ECONNREFUSED", "ECONNRESET", "EDEADLK", "EDESTADDRREQ", "EDOM", "EDQUOT", "EEXIST",
	"EFAULT", "EFBIG", "EHOSTUNREACH", "EIDRM", "EILSEQ", "EINPROGRESS", "EINTR", "EINVAL",
	"EIO", "EISCONN", "EISDIR", "ELOOP", "EMFILE", "EMLINK", "EMSGSIZE", "EMULTIHOP",
	"ENAMETOOLONG", "ENETDOWN", "ENETRESET", "ENETUNREACH", "ENFILE", "ENOBUFS", "ENODEV",
	"ENOENT", "ENOEXEC", "ENOLCK", "ENOLINK", "ENOMEM", "ENOMSG", "ENOPROTOOPT", "ENOSPC",
	"ENOSYS", "ENOTCONN", "ENOTDIR", "ENOTEMPTY", "ENOTRECOVERABLE", "ENOTSOCK", "ENOTSUP",
	"ENOTTY", "ENXIO", "EOVERFLOW", "EOWNERDEAD", "EPERM", "EPIPE", "EPROTO",
	"EPROTONOSUPPORT", "EPROTOTYPE", "ERANGE", "EROFS", "ESPIPE", "ESRCH", "ESTALE",
	"ETIMEDOUT", "ETXTBSY", "EXDEV", "ENOTCAPABLE",
}

// ErrnoName names a WASI errno: 44 is "ENOENT".
func ErrnoName(errno uint32) string {
	if int(errno) < len(errnoNames) {
		return errnoNames[errno]
	}
	return "errno(" + strconv.FormatUint(uint64(errno), 10) + ")"
}
