//go:build linux

package wall

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Probe returns the kernel's Landlock ABI version, or 0 and why there is
// none. It changes nothing.
func Probe() (abi int, why string) {
	v, err := ll.LandlockGetABIVersion()
	switch {
	case err == nil && v >= 1:
		return v, ""
	case errors.Is(err, unix.ENOSYS):
		return 0, "this kernel has no Landlock (built without it, or a seccomp filter hides it)"
	case errors.Is(err, unix.EOPNOTSUPP):
		return 0, "Landlock is turned off on this kernel (it is missing from the lsm= boot option)"
	case err == nil:
		return 0, fmt.Sprintf("the kernel answered Landlock ABI %d", v)
	}
	return 0, fmt.Sprintf("asking the kernel for Landlock: %v", err)
}

// What each Access grants, on a directory and on a file. Nothing grants
// execute, or making a device, a named pipe or a socket file.
const (
	readDir  = ll.AccessFSReadFile | ll.AccessFSReadDir
	writeDir = readDir | ll.AccessFSWriteFile | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile |
		ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSym | ll.AccessFSRefer | ll.AccessFSTruncate
	readFile   = ll.AccessFSReadFile
	writeFile  = ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSTruncate
	deviceFile = ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSIoctlDev
)

func rights(a Access, dir bool) landlock.AccessFSSet {
	switch {
	case a == Write && dir:
		return writeDir
	case a == Write:
		return writeFile
	case a == Device && !dir:
		return deviceFile
	case dir:
		return readDir
	}
	return readFile
}

// configs are go-landlock's full configurations for ABI 1 to MaxABI.
var configs = [MaxABI]landlock.Config{landlock.V1, landlock.V2, landlock.V3, landlock.V4, landlock.V5, landlock.V6, landlock.V7}

// Restrict raises the wall: from now on, every thread of this process
// (those the Go runtime starts later too) may reach only what p lists.
// It cannot be undone. Before it restricts, it loads the local time zone,
// which the Go standard library would otherwise read lazily from files
// outside p; when p.Net is set, the system's TLS roots stay readable.
//
// What the kernel restricts, by ABI version (Status.Covers):
//
//	1  "fs": opening, reading, writing, creating, removing and executing files
//	2  "fs.refer": renaming and linking across directories
//	3  "fs.truncate": truncating
//	4  "tcp.bind", and "tcp.connect" unless p.AnyPort is set
//	5  "fs.ioctl_dev": ioctl on devices opened from now on
//	6  "scope.abstract_unix_socket", "scope.signal": abstract UNIX sockets
//	   and signals to processes outside the wall
//
// Files opened before the wall stay usable as they were opened (the audit
// log, the telemetry file, the terminal, standard streams).
//
// Where the kernel has no Landlock, Restrict returns a Status that is not
// Up, with its Reason, and a nil error; the error is for a kernel that has
// Landlock and refused the rules.
func Restrict(p *Plan) (Status, error) {
	start := time.Now()
	abi, why := Probe()
	st := Status{ABI: abi, Reason: why}
	if abi == 0 {
		return st, nil
	}
	used := min(abi, MaxABI)
	st.Used = used
	cfg := landlock.Config{HandledAccessFS: configs[used-1].HandledAccessFS}
	covers := []string{"fs"}
	if used >= 2 {
		covers = append(covers, "fs.refer")
	}
	if used >= 3 {
		covers = append(covers, "fs.truncate")
	}
	if used >= 4 {
		cfg.HandledAccessNet = ll.AccessNetBindTCP
		covers = append(covers, "tcp.bind")
		if p.AnyPort == "" {
			cfg.HandledAccessNet |= ll.AccessNetConnectTCP
			covers = append(covers, "tcp.connect")
		}
	}
	if used >= 5 {
		covers = append(covers, "fs.ioctl_dev")
	}
	if used >= 6 {
		cfg.Scoped = ll.ScopeAbstractUnixSocket | ll.ScopeSignal
		covers = append(covers, "scope.abstract_unix_socket", "scope.signal")
	}

	all := *p
	all.Paths = slices.Clone(p.Paths)
	if p.Net {
		for _, r := range tlsRoots(os.Getenv) {
			all.Add(r, Read, "TLS roots")
		}
	}
	var rules []landlock.Rule
	for _, x := range all.Paths {
		fi, err := os.Stat(x.Path)
		if err != nil {
			continue // nothing there: nothing to reach
		}
		r := rights(x.Access, fi.IsDir()) & cfg.HandledAccessFS
		if r == 0 {
			continue
		}
		rules = append(rules, landlock.PathAccess(r, x.Path))
		st.Paths = append(st.Paths, x)
	}
	if cfg.HandledAccessNet&ll.AccessNetConnectTCP != 0 {
		for _, port := range p.Connect {
			rules = append(rules, landlock.ConnectTCP(port))
		}
		st.Connect = p.Connect
	} else if p.AnyPort != "" {
		st.AnyPort = p.AnyPort
	} else {
		st.AnyPort = fmt.Sprintf("Landlock ABI %d has no TCP rules (ABI 4 has)", used)
	}

	// The local time zone is loaded on first use, from files the wall
	// hides: load it now (about 50 µs). Zone's result is not needed; its
	// side effect, time.Local's one-time load, is.
	//lint:ignore SA4017 called for the side effect of loading time.Local
	time.Now().Zone()

	if err := cfg.Restrict(rules...); err != nil {
		return st, fmt.Errorf("raising the Landlock wall: %w", err)
	}
	st.Up, st.Reason, st.Covers = true, "", covers
	st.Took = time.Since(start)
	st.TookMS = float64(st.Took.Microseconds()) / 1000
	return st, nil
}
