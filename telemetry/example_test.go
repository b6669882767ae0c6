package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
	"github.com/airlockhq/airlock/telemetry/traceview"
)

// ExampleNew turns telemetry on from a policy's telemetry block, installs
// it in an engine, runs a tool that reaches for a file the built-in rules
// hide (.env), and reads back what was exported: the run's span, with a
// span per host call under it, and the decision as a log record, which
// says which rule decided and where it comes from.
func ExampleNew() {
	ctx := context.Background()
	project, err := os.MkdirTemp("", "airlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(project)
	pol, diags := policy.Parse([]byte(`
mount "/work" {
  host   = "`+project+`"
  access = "read"
}
telemetry {
  exporter = "stdout"
}
`), "example.hcl", policy.LayerProject, ".")
	if diags.HasErrors() {
		log.Fatal(diags)
	}

	// Flags beat the OTEL_* environment, which beats the policy; a program
	// passes os.Getenv, this example no environment at all.
	noEnv := func(string) string { return "" }
	cfg, err := telemetry.Resolve(pol.Telemetry, noEnv, telemetry.Flags{})
	if err != nil {
		log.Fatal(err)
	}
	var exported bytes.Buffer
	cfg.Stdout, cfg.ServiceVersion = &exported, "example"
	tp, err := telemetry.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	eng, err := runtime.New(ctx, tp.Configure(runtime.Config{CacheDir: "-"}))
	if err != nil {
		log.Fatal(err)
	}
	mod, err := eng.Load(ctx, "../tools/cat/cat.wasm")
	if err != nil {
		log.Fatal(err)
	}
	res, err := eng.Run(ctx, runtime.Spec{Module: mod, Args: []string{"/work/.env"}, Stderr: io.Discard, Policy: pol})
	if err != nil {
		log.Fatal(err)
	}
	eng.Close(ctx)
	if err := tp.Shutdown(ctx); err != nil { // flushes every exporter
		log.Fatal(err)
	}
	fmt.Println("exit", res.ExitCode)

	lines, _, err := traceview.ReadLines(&exported)
	if err != nil {
		log.Fatal(err)
	}
	// Spans and log records are exported in batches of their own, so
	// either may come first in the output: each is looked for here.
	var run, decision []any
	hostCalls := 0
	for _, l := range lines {
		switch {
		case l.Signal == "span" && l.Name == telemetry.SpanRun:
			run = []any{"span", l.Name, l.Attributes[telemetry.AttrTool], l.Attributes[telemetry.AttrExitReason]}
		case l.Signal == "span":
			hostCalls++
		case l.Signal == "log" && l.Event == telemetry.EventDecision:
			a := l.Attributes
			decision = []any{"log", l.Event, a[telemetry.AttrDecision], a[telemetry.AttrDecisionKind], a[telemetry.AttrDecisionTarget], a[telemetry.AttrDecisionRule], a[telemetry.AttrDecisionOrigin]}
		}
	}
	fmt.Println(run...)
	fmt.Println(decision...)
	fmt.Println("host call spans:", hostCalls > 0)
	// Output:
	// exit 2
	// span airlock.run cat exited
	// log airlock.decision deny fs.read /work/.env hide ".env" builtin
	// host call spans: true
}
