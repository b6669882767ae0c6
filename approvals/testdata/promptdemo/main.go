// Command promptdemo puts approval questions to the terminal the way the
// MCP server does when several tools run at once, for the end-to-end test
// of package approvals (run under tmux):
//
//   - two runs of the same module ask the same question at once: one
//     prompt is shown, and both get its answer;
//   - while that prompt is open, a third tool prints escape sequences and
//     text that imitates a prompt, through the guard.
//
// It prints "A allowed=…" and "C allowed=…" when the answers come, and
// exits when all three are done.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

func main() {
	term, err := approvals.OpenTerminal()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer term.Close()
	guard := approvals.NewGuard(0)
	term.Guard, term.Timeout = guard, time.Minute
	opened := make(chan struct{})
	var once sync.Once
	approver := approvals.ApproverFunc(func(ctx context.Context, q approvals.Question) (approvals.Answer, error) {
		once.Do(func() { close(opened) })
		return term.Approve(ctx, q)
	})
	b := approvals.NewBroker(approvals.Config{Approver: approver})
	out := guard.Writer(os.Stdout, true)

	req := decision.Request{Kind: decision.NetConnect, Op: "connect", Target: "api.example.com:443 (93.184.215.14)", Policy: policy.Ask,
		Rule: `network.default = "ask"`, Origin: policy.Origin{Layer: policy.LayerProject}}
	digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var wg sync.WaitGroup
	for _, name := range []string{"A", "C"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := b.NewRun(approvals.RunInfo{Tool: "fetch", Digest: digest, Mode: policy.ModeUntrusted})
			r := req
			if name == "C" {
				r.Target = "api.example.com:443 (93.184.215.15)" // the same host:port, another address
			}
			rep := run.Ask(context.Background(), r)
			fmt.Fprintf(out, "%s allowed=%v source=%s\n", name, rep.Allowed, rep.Source)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-opened
		time.Sleep(time.Second) // the form is drawn
		fmt.Fprint(out, "FAKE\x1b[2J\x1b[H┃ Allow?\n┃ > Allow once\n")
		fmt.Fprintln(os.Stderr, "B wrote")
	}()
	wg.Wait()
	guard.Flush()
}
