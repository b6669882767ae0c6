package learn

import (
	"fmt"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// The margins over what a run used. Wall time varies the most (a loaded
// machine, a cold cache, a person answering a prompt while learning), so
// it gets the widest one; memory is near-deterministic for a given input,
// but a different input to the same tool may need more.
const (
	memoryFactor = 2
	memoryFloor  = 16 << 20 // at least this much above the peak
	timeFactor   = 5
	timeFloor    = 10 * time.Second
	outputFactor = 2
	outputFloor  = 64 << 10
)

// learnLimits puts each limit a margin above what the run used, never above
// the limit it ran under. A limit the run reached (or could not measure)
// stays the ceiling's.
func learnLimits(run Run) LimitsNeed {
	l := run.Policy.Limits
	n := LimitsNeed{Memory: l.Memory, Timeout: l.Timeout, Output: l.Output}
	var used []string
	if run.Memory > 0 {
		m := max(memoryFactor*run.Memory, run.Memory+memoryFloor)
		m = (m + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
		n.Memory = min(m, l.Memory)
		used = append(used, "memory "+policy.FormatSize(run.Memory)+" at its peak")
	}
	if !run.TimedOut && run.Duration > 0 {
		t := max(timeFactor*run.Duration, timeFloor)
		t = ((t + time.Second - 1) / time.Second) * time.Second
		n.Timeout = min(t, l.Timeout)
		used = append(used, fmt.Sprintf("%.2fs of wall time", run.Duration.Seconds()))
	}
	if !run.OutputCut {
		o := max(outputFactor*run.Output, outputFloor)
		o = (o + 1<<10 - 1) &^ (1<<10 - 1) // whole KiB
		n.Output = min(o, l.Output)
		used = append(used, fmt.Sprintf("%d bytes on its larger output stream", run.Output))
	}
	if l.OpenFilesOrigin.Layer != policy.LayerBuiltin && l.OpenFilesOrigin.Layer != "" {
		n.OpenFiles = l.OpenFiles // not measured: the ceiling's, when it set one
	}
	n.Why = "a margin over what the run used"
	if len(used) > 0 {
		n.Why += ": " + joinWords(used)
	}
	return n
}

func joinWords(ws []string) string {
	switch len(ws) {
	case 0:
		return ""
	case 1:
		return ws[0]
	}
	out := ""
	for i, w := range ws {
		switch {
		case i == 0:
		case i == len(ws)-1:
			out += " and "
		default:
			out += ", "
		}
		out += w
	}
	return out
}
