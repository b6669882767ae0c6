//go:build !linux

package host

import (
	"fmt"
	"runtime"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// FS is airlock's policy filesystem. It needs Linux (/proc/self/fd and the
// *at system calls); elsewhere NewFS returns an error.
type FS struct {
	experimentalsys.UnimplementedFS
	ReadOnlyVerdict policy.Verdict
}

// NewFS returns an error: the policy filesystem works on Linux only.
func NewFS(m policy.Mount, gate *Gate, openFiles *OpenFileLimit, procMounts []string) (*FS, error) {
	return nil, fmt.Errorf("policy filesystem for %s: not supported on %s (Linux only)", m.Guest, runtime.GOOS)
}

// Close does nothing.
func (f *FS) Close() error { return nil }

// cover, hostRel, escape and utimensNoFollow exist for the WASI layer;
// without a policy filesystem they are never reached.
func (f *FS) cover(rel, by string)             {}
func (f *FS) hostRel(other *FS) (string, bool) { return "", false }
func (f *FS) escape(kind decision.Kind, op, target string) experimentalsys.Errno {
	return experimentalsys.EPERM
}
func (f *FS) utimensNoFollow(p string, atim, mtim int64) experimentalsys.Errno {
	return experimentalsys.ENOSYS
}

// ProcessFSMounts returns where procfs is mounted: Linux only.
func ProcessFSMounts() ([]string, error) { return nil, nil }

// MountWatch: there is no process filesystem to watch here.
type MountWatch struct{}

// WatchMounts returns nil here.
func WatchMounts() *MountWatch { return nil }

// Changed reports true: nothing is known.
func (w *MountWatch) Changed() bool { return true }

// Close does nothing.
func (w *MountWatch) Close() {}
