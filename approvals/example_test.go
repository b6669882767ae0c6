package approvals_test

import (
	"context"
	"fmt"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// A broker puts the questions of a run to a chain of approvers: the first
// that can ask answers; when none can (no terminal, no MCP client), the
// headless answer does.
func ExampleChain() {
	noTerminal := &approvals.Scripted{CannotAsk: true}
	person := &approvals.Scripted{Answers: []approvals.Choice{approvals.AllowRun}}
	b := approvals.NewBroker(approvals.Config{
		Approver: approvals.Chain(noTerminal, person),
		Headless: policy.Deny,
	})
	run := b.NewRun(approvals.RunInfo{Tool: "fetch", Digest: "sha256:0123456789abcdef", Mode: policy.ModeUntrusted})
	req := decision.Request{Kind: decision.NetConnect, Op: "connect", Target: "api.example.com:443",
		Policy: policy.Ask, Rule: `network.default = "ask"`}
	for range 2 {
		rep := run.Ask(context.Background(), req)
		fmt.Printf("%v %s asked=%v\n", rep.Allowed, rep.Source, rep.Ended != "")
	}
	fmt.Println("questions put:", len(person.Asked()))
	// Output:
	// true user asked=true
	// true user asked=false
	// questions put: 1
}
