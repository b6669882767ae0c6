package main

import (
	"encoding/json"
	"io"
	"os"

	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/internal/wall"
	"github.com/airlockhq/airlock/runtime"
)

// report is the machine-readable account of one run (--json). Its fields
// are documented in docs/report.md; add fields, never rename them.
type report struct {
	Tool       string               `json:"tool"`
	Module     string               `json:"module"`
	Digest     string               `json:"digest"`
	Args       []string             `json:"args"`
	Policy     string               `json:"policy"`
	ExitCode   uint32               `json:"exit_code"`
	Reason     runtime.Reason       `json:"reason"`
	Error      string               `json:"error,omitempty"`
	DurationMS float64              `json:"duration_ms"`
	MemoryB    uint64               `json:"memory_bytes"`
	Stdout     runtime.Stream       `json:"stdout"`
	Stderr     runtime.Stream       `json:"stderr"`
	Denied     int                  `json:"denied"`
	Decisions  []hostfuncs.Decision `json:"decisions"`
	// Landlock is the second wall: whether it was up, and what it held.
	Landlock *wall.Status `json:"landlock,omitempty"`
}

func newReport(m *runtime.Module, args []string, policySource string, res *runtime.Result) *report {
	r := &report{
		Tool: m.Name, Module: m.Path, Digest: m.Digest, Args: args, Policy: policySource,
		ExitCode: res.ExitCode, Reason: res.Reason,
		DurationMS: float64(res.Duration.Microseconds()) / 1000,
		MemoryB:    res.Memory, Stdout: res.Stdout, Stderr: res.Stderr,
		Decisions: res.Decisions,
	}
	if r.Args == nil {
		r.Args = []string{}
	}
	if r.Decisions == nil {
		r.Decisions = []hostfuncs.Decision{}
	}
	if res.Err != nil {
		r.Error = firstLine(res.Err)
	}
	for _, d := range res.Decisions {
		if !d.Allowed {
			r.Denied++
		}
	}
	return r
}

// writeReport writes r as one JSON object to path, or to stderr if path is
// empty. When the second wall is up, the file was opened before it (f) and
// is written through that.
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
	case f != nil:
		defer f.Close()
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.WriteAt(b, 0); err != nil {
			return err
		}
		return f.Close()
	}
	return os.WriteFile(path, b, 0o644)
}
