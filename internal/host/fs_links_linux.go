//go:build linux

package host

import (
	"github.com/airlockhq/airlock/policy"
	"golang.org/x/sys/unix"
)

// Hard links made on the host before a run can give a protected or hidden
// file a second, ordinary name. A file with one link cannot have such a
// twin, so only files with nlink > 1 are looked up, in a set of the
// (device, inode) pairs of the protected and hidden files that have more
// than one link. The set is built once per FS, by one walk of the mount,
// the first time it is needed. See docs/filesystem.md for the cost.

type inodeKey struct{ dev, ino uint64 }

type linkSet struct {
	protected map[inodeKey]int // index into FS.protect
	hidden    map[inodeKey]int // index into FS.hide
}

// linkedTo reports whether the file st describes is a protected (or, with
// hide, a hidden) file under another name.
func (f *FS) linkedTo(st *unix.Stat_t, hide bool) (policy.Pattern, bool) {
	f.linksOnce.Do(f.buildLinks)
	key := inodeKey{uint64(st.Dev), st.Ino}
	if hide {
		if i, ok := f.links.hidden[key]; ok {
			return f.hide[i], true
		}
	} else if i, ok := f.links.protected[key]; ok {
		return f.protect[i], true
	}
	return policy.Pattern{}, false
}

// buildLinks walks the whole mount once, without following symlinks, and
// records every regular file with more than one link that a protect or
// hide pattern covers. Directories it cannot read are skipped: the guest
// cannot reach what is in them either; so are the parts this mount never
// serves (an inner mount's point, /proc: fs_cover_linux.go), which are
// not even listed.
func (f *FS) buildLinks() {
	set := &linkSet{protected: map[inodeKey]int{}, hidden: map[inodeKey]int{}}
	fd, err := unix.Openat(f.rootFd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		f.walkLinks(fd, ".", set, make([]byte, 16<<10))
	}
	f.links = set
}

// walkLinks reads directory fd (at rel) and descends into its
// subdirectories; it closes fd.
func (f *FS) walkLinks(fd int, rel string, set *linkSet, buf []byte) {
	defer unix.Close(fd)
	var subdirs []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			d, size := nextDirent(b)
			if size == 0 {
				break
			}
			b = b[size:]
			if d.ino == 0 || isDots(d.name) {
				continue
			}
			name := string(d.name)
			child := joinRel(rel, name)
			if _, ok := f.coveredAt(child); ok {
				continue // served by another mount, or /proc: never opened, not even listed
			}
			typ := d.typ
			if typ == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
					continue
				}
				switch {
				case isDir(&st):
					typ = unix.DT_DIR
				case isReg(&st):
					typ = unix.DT_REG
				}
			}
			switch typ {
			case unix.DT_DIR:
				subdirs = append(subdirs, name)
			case unix.DT_REG:
				pi, protected := f.patternIndex(f.protect, child)
				hi, hidden := f.patternIndex(f.hide, child)
				if !protected && !hidden {
					continue
				}
				var st unix.Stat_t
				if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Nlink < 2 || !isReg(&st) {
					continue
				}
				key := inodeKey{uint64(st.Dev), st.Ino}
				if protected {
					set.protected[key] = pi
				}
				if hidden {
					set.hidden[key] = hi
				}
			}
		}
	}
	for _, name := range subdirs {
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			f.walkLinks(sub, joinRel(rel, name), set, buf)
		}
	}
}

func (f *FS) patternIndex(ps []policy.Pattern, rel string) (int, bool) {
	for i := range ps {
		if ps[i].Match(rel) {
			return i, true
		}
	}
	return 0, false
}
