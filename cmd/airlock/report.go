package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/wall"
	"github.com/airlockhq/airlock/runtime"
)

// report is the machine-readable account of one run (--json). Its fields
// are documented in docs/report.md; add fields, never rename them.
type report struct {
	Tool       string              `json:"tool"`
	Module     string              `json:"module"`
	Digest     string              `json:"digest"`
	Args       []string            `json:"args"`
	Policy     string              `json:"policy"`
	ExitCode   uint32              `json:"exit_code"`
	Reason     runtime.Reason      `json:"reason"`
	Error      string              `json:"error,omitempty"`
	DurationMS float64             `json:"duration_ms"`
	MemoryB    uint64              `json:"memory_bytes"`
	Threads    int                 `json:"threads,omitempty"`
	Stdout     runtime.Stream      `json:"stdout"`
	Stderr     runtime.Stream      `json:"stderr"`
	Denied     int                 `json:"denied"`
	Decisions  []decision.Decision `json:"decisions"`
	// Signal names the signal that stopped the run (SIGINT, SIGTERM,
	// SIGHUP; SIGPIPE for a closed stdout or stderr).
	Signal string `json:"signal,omitempty"`
	// AuditError is the first error of the audit log: a decision it could
	// not record, or records it could not sync.
	AuditError string `json:"audit_error,omitempty"`
	// Landlock is the second wall: whether it was up, and what it held.
	Landlock *wall.Status `json:"landlock,omitempty"`
}

// reasonNotRun is the report's reason when the tool did not run: airlock
// stopped before it (a bad policy, a module that cannot be loaded, an
// interruption while it compiled); error says why.
const reasonNotRun runtime.Reason = "not-run"

// notRunReport is the report of a run that did not happen: what was asked
// for, and why it did not run.
func notRunReport(module string, args []string, policySource, why string, cause error) *report {
	name := strings.TrimSuffix(filepath.Base(module), filepath.Ext(module))
	r := &report{Tool: name, Module: module, Args: args, Policy: policySource, Reason: reasonNotRun,
		Error: why, Signal: signalOf(cause), Decisions: []decision.Decision{}}
	if r.Args == nil {
		r.Args = []string{}
	}
	return r
}

// writeNotRun writes r and returns code, or ExitUsage if the report could
// not be written and nothing else had failed.
func writeNotRun(stderr io.Writer, path string, f *os.File, r *report, code int) int {
	if err := writeReport(stderr, path, f, r); err != nil {
		say(stderr, "writing the report: %v", err)
		if code == 0 {
			return ExitUsage
		}
	}
	return code
}

func newReport(m *runtime.Module, args []string, policySource string, res *runtime.Result) *report {
	r := &report{
		Tool: m.Name, Module: m.Path, Digest: m.Digest, Args: args, Policy: policySource,
		ExitCode: res.ExitCode, Reason: res.Reason,
		DurationMS: float64(res.Duration.Microseconds()) / 1000,
		MemoryB:    res.Memory, Threads: res.Threads, Stdout: res.Stdout, Stderr: res.Stderr,
		Decisions: res.Decisions,
	}
	if r.Args == nil {
		r.Args = []string{}
	}
	if r.Decisions == nil {
		r.Decisions = []decision.Decision{}
	}
	if res.Err != nil {
		r.Error = firstLine(res.Err)
	}
	if res.Reason == runtime.Canceled {
		r.Signal = signalOf(res.Err)
	}
	for _, d := range res.Decisions {
		if !d.Allowed {
			r.Denied++
		}
	}
	return r
}

// openReport opens the --json=FILE file before anything runs: what a tool
// does during the run (or did in an earlier one, in a writable mount that
// holds FILE) cannot redirect the report. A symbolic link in FILE's last
// component is refused rather than followed (a tool could have planted
// one pointing at any file of the person's), as is anything but a regular
// file (a FIFO would block airlock). The file is truncated only when the
// report is written, through this descriptor, which also keeps it
// writable behind the second wall.
func openReport(path string) (*os.File, error) {
	return openOwnFile(path, "a report", os.O_WRONLY)
}

// openOwnFile opens path, a file airlock writes when the run is over (the
// report, a learned policy), with flag (O_WRONLY or O_RDWR) and O_CREATE:
// never through a symbolic link in its last component, never anything but
// a regular file. what names the file in the error ("a report").
func openOwnFile(path, what string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|os.O_CREATE|reportOpenFlags, 0o644)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s is a symbolic link; airlock does not write %s through one (a tool may have made it): remove it or name another file", path, what)
		} else if lerr == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", path)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

// writeReport writes r as one JSON object to path, or to stderr if path is
// empty, through f, the file openReport opened for path.
func writeReport(stderr io.Writer, path string, f *os.File, r *report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	switch {
	case path == "":
		_, err = stderr.Write(b)
		return err
	case f == nil:
		return fmt.Errorf("the report file %s was not opened", path)
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Sync()
}
