//go:build linux

package host

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The process filesystem (/proc) shows every process of the user from
// the inside, airlock's own first (/proc/self): its environment, which
// holds the credentials airlock adds to requests and which never enter the
// sandbox; its memory, which holds the compile cache's key and whatever
// airlock has read; writing /proc/self/mem changes airlock's own code. The
// shell that started airlock has the same environment. So a mount that
// holds /proc (a mount of "/") never serves it: every procfs mount point
// below the mount root is a covered part (fs_cover_linux.go), refused
// before anything there is opened, as airlock's own state is; a mount whose
// host directory is in procfs is refused before the tool runs.

// procSuperMagic is procfs's f_type in statfs(2).
const procSuperMagic = 0x9fa0

// procWhat names the process filesystem in decisions
// ("airlock state: process filesystem").
const procWhat = "process filesystem"

// refuseProc refuses a mount root in procfs. It needs no file opened, so
// it works behind the Landlock wall too.
func (f *FS) refuseProc() error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(f.rootFd, &sfs); err != nil {
		return fmt.Errorf("reading what filesystem %s is on: %w", f.mount.Host, err)
	}
	if sfs.Type == procSuperMagic {
		return fmt.Errorf("%s is in the %w (/proc), which shows airlock's own memory and environment; no tool may reach it", f.mount.Host, ErrProcessFS)
	}
	return nil
}

// coverProcessFS makes every procfs mount point among points (host paths,
// from ProcessFSMounts) that lies below the mount root a part this mount
// never serves.
func (f *FS) coverProcessFS(points []string) {
	real := *f.realRoot.Load()
	for _, p := range points {
		if rel, ok := relUnder([]byte(p), real); ok && rel != "." {
			f.covered = append(f.covered, coverage{rel: rel, proc: true})
		}
	}
}

// ProcessFSMounts returns where procfs is mounted, from this process's
// mount table (/proc/self/mountinfo).
func ProcessFSMounts() ([]string, error) {
	points, err := procMountPoints()
	if err != nil {
		return nil, fmt.Errorf("reading the mount table (/proc/self/mountinfo): %w", err)
	}
	return points, nil
}

// procMountPoints returns where procfs is mounted, from this process's
// mount table.
func procMountPoints() ([]string, error) {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var points []string
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTIONS
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, s := range fields {
			if s == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[sep+1] == "proc" {
			points = append(points, unescapeMountinfo(fields[4]))
		}
	}
	return points, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a path
// in /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MountWatch tells whether this process's mount table changed since the
// watch began: the kernel reports POLLPRI on /proc/self/mountinfo after a
// mount or an unmount (proc(5)). The descriptor is a raw one: an os.File
// would be in Go's epoll set, and each epoll_wait would take the event.
type MountWatch struct{ fd int }

// WatchMounts begins a watch; read the table after it begins.
func WatchMounts() *MountWatch {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return &MountWatch{fd}
}

// Changed reports whether the mount table may have changed (true when
// the watch cannot tell).
func (w *MountWatch) Changed() bool {
	if w == nil {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLPRI}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n != 0
}

// Close ends the watch.
func (w *MountWatch) Close() {
	if w != nil {
		unix.Close(w.fd)
	}
}
