package host

import "github.com/airlockhq/airlock/decision"

// Observe makes f receive every decision.Use of the gate's run from now on (nil
// stops it). Set it before the guest starts (runtime.Config.PrepareRun is
// the place); f runs on the guest's host calls, so it must be quick and
// safe for concurrent use.
func (g *Gate) Observe(f func(decision.Use)) {
	if f == nil {
		g.observe.Store(nil)
		return
	}
	g.observe.Store(&f)
}

// used reports u to the observer, if there is one and the run still holds
// its capabilities.
func (g *Gate) used(u decision.Use) {
	if f := g.observe.Load(); f != nil && !g.revoked.Load() {
		(*f)(u)
	}
}
