//go:build linux

package host

import (
	"github.com/airlockhq/airlock/decision"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// noteDone reports an operation on the path p (as the guest named it,
// relative to the mount) to the gate's observer when it succeeded: *ret is
// its result, read when the operation returns (it is deferred).
func (f *FS) noteDone(ret *experimentalsys.Errno, kind decision.Kind, op, p string) {
	if *ret != 0 || f.gate.observe.Load() == nil {
		return
	}
	rel, _ := cleanRel(p)
	f.gate.used(decision.Use{Kind: kind, Op: op, Mount: f.guestName(), Path: rel, Done: true})
}

// noteLook reports that the guest named the path p in this mount (the WASI
// layer resolved it here), before any rule is applied.
func (f *FS) noteLook(kind decision.Kind, op, p string) {
	if f.gate.observe.Load() == nil {
		return
	}
	rel, _ := cleanRel(p)
	f.gate.used(decision.Use{Kind: kind, Op: op, Mount: f.guestName(), Path: rel})
}
