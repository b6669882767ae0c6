package runtime

import (
	"errors"
	"fmt"
	"io"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
)

// sandbox is what one run's host functions serve, whatever the engine:
// airlock's WASI state (the descriptor table over the policy filesystem of
// each mount) and the capped output streams. Both engines build it here,
// so a mount, a pattern or a limit means the same on each.
type sandbox struct {
	wasi           *host.WASI
	stdout, stderr *capped
	closers        []io.Closer // the mounts' filesystems
}

// newSandbox opens spec's mounts through the policy filesystem, under gate,
// and connects the streams. Call close when the run has ended.
func (e *Engine) newSandbox(spec *Spec, gate *host.Gate) (*sandbox, error) {
	p := spec.Policy
	s := &sandbox{}
	limit := host.NewOpenFileLimit(p.Limits.OpenFiles)
	state := e.runState() // the last run's while unchanged (host.NewStateLike)
	var mounts []host.WASIMount
	for _, m := range p.Mounts {
		fs, err := host.NewFS(m, gate, limit, e.procMounts)
		if errors.Is(err, host.ErrProcessFS) {
			s.close()
			return nil, &StateError{Guest: m.Guest, Err: err}
		}
		if err != nil {
			s.close()
			return nil, fmt.Errorf("mounting %s at %s: %w", m.Host, m.Guest, err)
		}
		s.closers = append(s.closers, fs)
		if err := fs.GuardState(state); err != nil {
			s.close()
			return nil, &StateError{Guest: m.Guest, Err: err}
		}
		if spec.ReadOnlyVerdict == policy.Ask && m.Origin.Layer != policy.LayerManaged {
			fs.ReadOnlyVerdict = policy.Ask
		}
		mounts = append(mounts, host.WASIMount{Guest: m.Guest, FS: fs})
	}
	s.stdout = newCapped(orDiscard(spec.Stdout), p.Limits.Output)
	s.stderr = newCapped(orDiscard(spec.Stderr), p.Limits.Output)
	stdin := spec.Stdin
	if stdin == nil {
		stdin = eofReader{}
	}
	s.wasi = host.NewWASI(mounts, stdin, s.stdout, s.stderr)
	return s, nil
}

// close closes the mounts' filesystems. The WASI state is closed by the
// run's host state (Run.OnClose) when the guest has returned.
func (s *sandbox) close() {
	for _, c := range s.closers {
		c.Close()
	}
}
