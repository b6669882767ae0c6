package hostfuncs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// TestEndWaitsForADecisionBeingRecorded: a recorder that cannot write
// the audit log ends the run itself (the CLI cancels the run's context
// from inside it), so the runtime may call End while the decision it
// refused is not kept yet. End waits for it: the report of such a run
// holds the decision, denied as unrecorded (it once came out empty, a
// flaky TestAuditFullDiskStopsTheRun).
func TestEndWaitsForADecisionBeingRecorded(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	entered, release := make(chan struct{}), make(chan struct{})
	g := NewGate(ctx, nil, func(Decision) error {
		stop() // the run ends, as stopUnrecorded does
		close(entered)
		<-release // the write is still under way
		return errors.New("no space left on device")
	})
	decided := make(chan bool, 1)
	go func() {
		decided <- g.Decide(Request{Kind: "net.connect", Op: "connect", Target: "127.0.0.1:1", Policy: policy.Allow}, "EACCES")
	}()
	<-entered
	ended := make(chan struct{})
	go func() {
		g.End(errors.New("run ended"))
		close(ended)
	}()
	select {
	case <-ended:
		t.Fatal("End returned while a decision was being recorded")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-ended
	if <-decided {
		t.Error("a decision that could not be recorded was allowed")
	}
	ds := g.Decisions()
	if len(ds) != 1 || ds[0].Allowed || ds[0].Source != SourceUnrecorded {
		t.Fatalf("decisions after End: %+v, want the one denied as unrecorded", ds)
	}
}
