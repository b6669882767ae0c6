package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/policy"
)

// StateError says a run was refused because one of its mounts would put
// airlock's own state (Config.State, the compile cache) within the tool's
// reach in a way the engine cannot filter: a mount inside the compile
// cache or a grants file, or, on an engine whose WASI is native
// (wasmtime), any mount that contains state. Nothing ran.
type StateError struct {
	Guest string // the mount's guest path
	Err   error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("mount %s: %v", e.Guest, e.Err)
}
func (e *StateError) Unwrap() error { return e.Err }

// mountsExposeState refuses a policy with a mount that reaches airlock's
// state, for engines that cannot refuse single calls: a writable mount
// that contains state, or a read-only one that contains secret state.
func mountsExposeState(p *policy.Policy, st *hostfuncs.State, procMounts []string) error {
	for _, m := range p.Mounts {
		host, err := filepath.Abs(m.Host)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(host); err == nil {
			host = real
		}
		// No mount may hold the process filesystem: airlock's own memory
		// and environment.
		if at, ok := hostfuncs.ProcessFSWithin(host, procMounts); ok {
			return &StateError{Guest: m.Guest, Err: fmt.Errorf("%s holds the process filesystem (%s), which shows airlock's own memory and environment; this engine cannot keep a tool away from it: mount a folder that does not contain it, or use the default engine", m.Host, at)}
		}
		// A writable mount must not contain any state, there or to come; a
		// read-only one no secret state that is there.
		var exposed []hostfuncs.StatePath
		for _, s := range st.Within(host) {
			if m.Access == policy.Write || (s.Secret && exists(s.Path)) {
				exposed = append(exposed, s)
			}
		}
		if len(exposed) == 0 {
			continue
		}
		var names []string
		for _, s := range exposed {
			names = append(names, fmt.Sprintf("%s (%s)", s.What, s.Path))
		}
		return &StateError{Guest: m.Guest, Err: fmt.Errorf("%s holds airlock's own %s; this engine cannot keep a tool away from it: mount a folder that does not contain it, or use the default engine",
			m.Host, strings.Join(names, ", "))}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
