package main

import (
	"context"
	"os"

	"github.com/airlockhq/airlock/internal/warm"
	"github.com/airlockhq/airlock/runtime"
)

// warmRun is what a run in a warm worker has that a cold one has not.
type warmRun struct {
	eng    *runtime.Engine // prepared, or nil
	tty    *os.File        // the client's terminal, or nil
	hints  []warm.Hint     // what this run compiled, for the next workers
	engine *runtime.Engine // the run's, closed once the client has the exit status
}

// adopt returns the prepared engine for a run configured with cfg, or nil
// when there is none or cfg needs an engine of its own.
func (w *warmRun) adopt(cfg runtime.Config) *runtime.Engine {
	if w == nil || w.eng == nil || !w.eng.Adopt(cfg) {
		return nil
	}
	return w.eng
}

// ran notes what eng compiled, when a run like this one could use a
// prepared engine.
func (w *warmRun) ran(eng *runtime.Engine, cfg runtime.Config) {
	if w == nil || !eng.Adoptable(cfg) {
		return
	}
	dir, hs := eng.Hints()
	for _, h := range hs {
		w.hints = append(w.hints, warm.Hint{CacheDir: dir, Path: h.Path, Memory: h.Memory, Interrupt: int(h.Interrupt), Size: h.Size})
	}
}

// closeEngine closes eng now in a cold run, and in a warm worker after
// the client has its exit status (the process ends then): unmapping a
// large module's code is time nobody needs to wait for.
func (w *warmRun) closeEngine(ctx context.Context, eng *runtime.Engine) {
	if w == nil {
		eng.Close(ctx)
		return
	}
	w.engine = eng
}

// finish closes what the run left for after its exit status.
func (w *warmRun) finish() {
	if w.engine != nil {
		w.engine.Close(context.Background())
	}
}
