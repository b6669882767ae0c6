package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

const runSynopsis = `usage: airlock run MODULE|TOOLDIR [flags] [-- args…]
Run a tool in a sandbox bounded by the policy: MODULE is a .wasm file or a Go
source folder; TOOLDIR a folder with a tool.hcl (or the tool.hcl itself).
Arguments after -- go to the tool. Exit statuses: docs/exit-status.md.`

type runFlags struct {
	policy     string
	mounts     listFlag
	protect    listFlag
	hide       listFlag
	allowNet   listFlag
	denyNet    listFlag
	env        listFlag
	timeout    time.Duration
	memory     string
	output     string
	headless   bool
	json       optFile
	failOnDeny bool
	quiet      bool
	interrupt  string
	engine     string // runtime.EngineWazero or runtime.EngineWasmtime
	unenforced bool   // deprecated: every engine enforces every rule
	learn      string // --learn FILE (learn.go)
}

func runCmd(ctx context.Context, args []string, std stdio) (err error) {
	var f runFlags
	fs := newFlags("run", std.err)
	fs.StringVar(&f.policy, "policy", "", "policy `FILE` (default: .airlock/policy.hcl if present, else the built-in default)")
	fs.Var(&f.mounts, "mount", "add a mount `HOST:GUEST[:ro]` (repeatable)")
	fs.Var(&f.protect, "protect", "keep `GUESTPATH` or pattern read-only (repeatable)")
	fs.Var(&f.hide, "hide", "make `GUESTPATH` or pattern unreadable (repeatable)")
	fs.Var(&f.allowNet, "allow-net", "allow connections matching network `RULE`, e.g. https://api.github.com (repeatable)")
	fs.Var(&f.denyNet, "deny-net", "deny connections matching network `RULE` (repeatable; deny wins)")
	fs.Var(&f.env, "env", "set `KEY=VALUE`, or pass KEY from the host (repeatable)")
	fs.Var(durationFlag{&f.timeout}, "timeout", "wall-time `limit`, e.g. 30s or 5m (default from the policy)")
	fs.Var(sizeFlag{&f.memory}, "memory", "memory `limit`, e.g. 512MiB (default from the policy)")
	fs.Var(sizeFlag{&f.output}, "output", "output `limit` per stream, e.g. 1MiB (default from the policy)")
	fs.BoolVar(&f.headless, "headless", false, "never prompt; what the policy leaves open is answered by its headless rule")
	fs.Var(&f.json, "json", "write a JSON report of the run to stderr; to FILE with --json=FILE, or --json FILE when FILE ends in .json")
	fs.BoolVar(&f.failOnDeny, "fail-on-deny", false, fmt.Sprintf("exit %d if any capability was denied and the tool did not fail otherwise", ExitDenied))
	fs.BoolVar(&f.quiet, "quiet", false, "print no summary of denials")
	fs.StringVar(&f.interrupt, "interrupt", "exit", "how a timeout stops the tool: exit (revoke and exit; free) or instrument (checked in every loop; always, for a module with threads)")
	fs.StringVar(&f.engine, "engine", runtime.EngineWazero, "WebAssembly `ENGINE`: "+strings.Join(runtime.Engines(), " or ")+" (wasmtime needs a build with -tags wasmtime; docs/engines.md)")
	fs.StringVar(&f.learn, "learn", "", "write to `FILE` the narrowest policy that lets this run happen again, or add to the one there (docs/learn.md)")
	fs.BoolVar(&f.unenforced, "allow-unenforced", false, "no longer needed (every engine enforces every rule); accepted and ignored")
	ap := addApprovalFlags(fs)
	otelFlags := addTelemetryFlags(fs)
	module, toolArgs, err := parseInterspersed(fs, joinJSONFile(args), std, runSynopsis)
	if err != nil {
		return err
	}
	if module == "" {
		return fail(ExitUsage, "airlock run needs a MODULE or TOOLDIR; see airlock run --help")
	}

	var repFile *os.File
	repExisted := false
	if f.json.on && f.json.path != "" {
		_, lerr := os.Lstat(f.json.path)
		repExisted = lerr == nil
		rf, err := openReport(f.json.path)
		if err != nil {
			return fail(ExitUsage, "opening the report file: %v", err)
		}
		repFile = rf
		defer repFile.Close()
	}
	var learning *learnFile
	if f.learn != "" {
		lf, err := openLearn(f.learn)
		if err != nil {
			return fail(ExitUsage, "--learn: %v", err)
		}
		learning = lf
		defer learning.close()
	}

	// From here on, every way out writes the --json report, and a closed
	// stdout or stderr pipe ends the run instead of killing airlock.
	defer catchSIGPIPE()()
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	toolOut, toolErr := watchPipe(std.out, stopRun), watchPipe(std.err, stopRun)
	errs := &errorLines{w: std.err}
	std.err = errs
	var source string
	reported := false
	defer func() {
		if f.json.on && !reported {
			// The report names what ended the run: say it first, through
			// errs, and before the report when that goes to stderr too.
			code := exitCode(err, std.err)
			err = exitWith(writeNotRun(std.err, f.json.path, repFile, notRunReport(module, toolArgs, source, errs.String(), context.Cause(ctx)), code))
		}
	}()

	tool, err := ap.resolveTool(module, toolArgs, std.err)
	if err != nil {
		return err
	}
	module, toolArgs = tool.module, tool.args

	cwd, err := os.Getwd()
	if err != nil {
		return fail(ExitUsage, "finding the current directory: %v", err)
	}
	pol, source, err := loadPolicy(f.policy, cwd, std.err)
	if err != nil {
		return err
	}
	pol, diags := pol.With(policy.Overrides{
		Mounts: f.mounts, Protect: f.protect, Hide: f.hide, Env: f.env,
		Timeout: f.timeout, Memory: f.memory, Output: f.output,
		NetAllow: f.allowNet, NetDeny: f.denyNet,
	}, cwd)
	if diags.HasErrors() {
		policy.WriteDiagnostics(std.err, nil, diags)
		return exitWith(ExitUsage)
	}
	if f.policy != "" {
		if err := checkPolicyPlace(f.policy, pol, std.err); err != nil {
			return err
		}
	}
	sess, pol, err := startApprovals(pol, cwd, ap, f.headless, tool, std)
	if err != nil {
		return err
	}
	defer sess.close()
	if repFile != nil {
		if err := refuseLinkOnWay(f.json.path, "the report", pol); err != nil {
			repFile.Close() // nothing is written there, not even the not-run report
			if !repExisted {
				os.Remove(f.json.path)
			}
			repFile, f.json.on = nil, false
			return fail(ExitUsage, "opening the report file: %v", err)
		}
	}
	if learning != nil {
		if err := refuseToolWritten(learning.path, len(bytes.TrimSpace(learning.src)) > 0, pol); err != nil {
			return fail(ExitUsage, "--learn: %v", err)
		}
	}
	if f.unenforced {
		fmt.Fprintln(std.err, "airlock: --allow-unenforced is no longer needed and changes nothing: every engine enforces every rule of the policy (docs/engines.md)")
	}
	lock, err := newRunWall(pol, runtime.DefaultCacheDir(), f.quiet, std.err) // the second wall (wall.go)
	if err != nil {
		return err
	}
	tel, ctx, err := startTelemetry(ctx, pol, otelFlags, std)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background()) // on every path: bounded by the flush timeout

	interrupt := runtime.InterruptAbandon
	switch f.interrupt {
	case "exit":
	case "instrument":
		interrupt = runtime.InterruptInstrument
	default:
		return fail(ExitUsage, "--interrupt must be exit or instrument, not %q", f.interrupt)
	}

	policyFile := ""
	if source != "builtin default" {
		policyFile = source
	}
	state := append(statePaths(cwd, policyFile, sess.auditPath), learning.statePaths()...)
	state = append(state, telemetryState(tel)...)
	engCfg := tel.Configure(runtime.Config{OnCompile: compileProgress(std.err), OneShot: true,
		HostFuncs: wallProbeFuncs(), Engine: f.engine,
		State: state, Warn: warnTo(std.err), PrepareRun: learning.prepareRun()})
	eng := std.warm.adopt(engCfg) // a warm worker's, with the modules of recent runs compiled
	if eng == nil {
		if eng, err = runtime.New(ctx, engCfg); err != nil {
			return fail(ExitUsage, "%v", err)
		}
	}
	defer std.warm.ran(eng, engCfg)
	// Stopped (a signal, a closed pipe), the process is about to end: a
	// compile still under way is not waited for. A warm worker closes it
	// once its client has the exit status.
	defer std.warm.closeEngine(ctx, eng)

	untrusted, err := checkBuildPlaces(ctx, eng, module, pol, tool, std.err)
	if err != nil {
		return err
	}
	stopProgress := slowProgress(std.err, 400*time.Millisecond, "airlock: building "+module+" for wasip1…")
	mod, err := eng.LoadWith(ctx, module, runtime.LoadOptions{Untrusted: untrusted, Hidden: runtime.HiddenFrom(pol)})
	stopProgress()
	if err != nil && ctx.Err() != nil {
		return stopped(ctx)
	}
	if err != nil {
		return &exitError{Code: ExitNoModule, Err: err}
	}
	if err := sess.checkModule(mod); err != nil {
		return err
	}
	sess.beforeRun = func(ctx context.Context, pol *policy.Policy) error {
		return lock.raise(ctx, sess, pol, wallNeeds{eng: eng, mod: mod, interrupt: interrupt, tel: tel, cwd: cwd})
	}
	res, err := sess.run(ctx, eng, runtime.Spec{
		Module: mod, Args: toolArgs,
		Stdin: std.in, Stdout: toolOut, Stderr: toolErr,
		Policy: pol, Interrupt: interrupt,
	})
	if err != nil {
		return runFailed(ctx, err)
	}

	learned := learning == nil || learning.finish(res, state, f.quiet, std.err)
	rep := newReport(mod, toolArgs, source, res)
	rep.Landlock = &lock.status
	if !f.quiet {
		summarize(std.err, res, pol)
	} else if res.Reason == runtime.Canceled {
		fmt.Fprintln(std.err, "airlock: "+stopText(res.Err)) // why it stopped is not a summary
	}
	status := sess.exit(exitStatus(res, f.failOnDeny)) // the audit log is closed: its last error is known
	if !learned && status == 0 {
		status = ExitUsage
	}
	rep.AuditError = sess.auditFailed()
	if f.json.on {
		reported = true
		if err := writeReport(std.err, f.json.path, repFile, rep); err != nil {
			say(std.err, "writing the report: %v", err)
			if res.Reason != runtime.Canceled && status != ExitAuditFailed {
				status = ExitUsage
			}
		}
	}
	return exitWith(status)
}

// runFailed is the error that ends airlock run when the run could not be
// carried out (session.run's error): refused before it started (a mount
// exposing airlock's state, the wall), stopped by a decision the audit log
// could not record, stopped by a signal or a closed pipe, or a module that
// did not load.
func runFailed(ctx context.Context, err error) error {
	var (
		state      *runtime.StateError
		walled     *wallError
		unrecorded *approvals.UnrecordedError
	)
	switch {
	case errors.As(err, &state), errors.As(err, &walled):
		return &exitError{Code: ExitUsage, Err: err}
	case errors.As(err, &unrecorded):
		return fail(ExitAuditFailed, "%s", stopText(err))
	case ctx.Err() != nil:
		return stopped(ctx)
	}
	return &exitError{Code: ExitNoModule, Err: err}
}

// stopped is the error that ends a command whose ctx was cancelled: by a
// signal, a closed pipe or an unrecorded decision (stopStatus, stopText).
func stopped(ctx context.Context) error {
	cause := context.Cause(ctx)
	return fail(stopStatus(cause), "%s", stopText(cause))
}

// parseInterspersed parses flags before and after the module argument, up
// to "--"; everything after "--" belongs to the tool. It returns the error
// that ends the command when parsing did (--help, a bad flag).
func parseInterspersed(fs *flag.FlagSet, args []string, std stdio, synopsis string) (module string, toolArgs []string, err error) {
	for i, a := range args {
		if a == "--" {
			args, toolArgs = args[:i], append([]string{}, args[i+1:]...)
			break
		}
	}
	for {
		if err := parse(fs, args); err != nil {
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok && module != "" {
				// A flag after the module that airlock does not know is
				// most likely the tool's.
				return "", nil, fail(ExitUsage, "unknown flag %s for airlock %s; if it is the tool's, put it after --, e.g. airlock %s %s -- %s",
					"--"+strings.TrimLeft(name, "-"), fs.Name(), fs.Name(), module, strings.Join(args, " "))
			}
			return "", nil, flagFailure(fs, err, std, synopsis)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return module, toolArgs, nil
		}
		if module != "" {
			return "", nil, fail(ExitUsage, "unexpected argument %q: tool arguments go after --, e.g. airlock run %s -- %s", rest[0], module, strings.Join(rest, " "))
		}
		module, args = rest[0], rest[1:]
	}
}

// loadPolicy loads the named policy, or the project's .airlock/policy.hcl,
// or the built-in default (read-only in too broad a folder: see
// readOnlyDefault); source says which for reports. A relative mount host
// resolves against policy.BaseDir of the file, so the project's file means
// the same whether it was found or named.
func loadPolicy(name, cwd string, stderr io.Writer) (p *policy.Policy, source string, err error) {
	if name == "" {
		name = projectPolicy(cwd)
	}
	if name == "" {
		return readOnlyDefault(cwd, stderr), "builtin default", nil
	}
	src, err := policy.ReadFile(name)
	if err != nil {
		return nil, "", fail(ExitUsage, "reading policy: %v", err)
	}
	p, diags := policy.Parse(src, name, policy.LayerProject, policy.BaseDir(name))
	if diags.HasErrors() {
		policy.WriteDiagnostics(stderr, nil, diags)
		return nil, "", exitWith(ExitUsage)
	}
	return p, name, nil
}

// checkPolicyPlace looks at where the --policy file lies. Through a
// symbolic link inside a writable mount of the run, it is refused: a tool
// could have made the link to choose the policy airlock reads. Inside such
// a mount (outside its protect patterns), it is read with a warning: a
// tool run there earlier, under another policy, could have changed it
// (while this run lasts it cannot: the file is airlock's state).
func checkPolicyPlace(path string, pol *policy.Policy, stderr io.Writer) error {
	if link, m, ok := linkInWritableMount(path, pol); ok {
		return fail(ExitUsage, "reading policy: %s is reached through the symbolic link %s, inside the writable mount %s (%s), which a tool could have made to choose the policy airlock reads; "+
			"name the real place, or remove the link", path, link, m.Guest, m.Host)
	}
	if m, ok := runtime.WritableMount(pol, path); ok {
		fmt.Fprintf(stderr, "airlock: warning: the policy file %s lies in the writable mount %s (%s): a tool run there earlier could have changed it; "+
			"keep it in .airlock/ (protected) or outside the mounts\n", path, m.Guest, m.Host)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// compileProgress shows a line while a module compiles for the first time,
// when stderr is a terminal.
func compileProgress(stderr io.Writer) func(string, int) func() {
	if !isTerminal(stderr) {
		return nil
	}
	return func(name string, size int) func() {
		start := time.Now()
		fmt.Fprintf(stderr, "airlock: compiling %s (%.1f MB) for this machine, once…", name, float64(size)/1e6)
		return func() { fmt.Fprintf(stderr, " %.1fs\n", time.Since(start).Seconds()) }
	}
}

// slowProgress prints msg on a terminal if the work it brackets takes
// longer than after, and the time it took when it ends.
func slowProgress(stderr io.Writer, after time.Duration, msg string) (stop func()) {
	if !isTerminal(stderr) {
		return func() {}
	}
	start := time.Now()
	shown := make(chan bool, 1)
	t := time.AfterFunc(after, func() {
		fmt.Fprint(stderr, msg)
		shown <- true
	})
	return func() {
		if !t.Stop() {
			<-shown
			fmt.Fprintf(stderr, " %.1fs\n", time.Since(start).Seconds())
		}
	}
}

// summarize tells a person what the run was refused and why it ended, in a
// few lines on stderr.
func summarize(w io.Writer, res *runtime.Result, pol *policy.Policy) {
	for _, d := range res.Decisions {
		if d.Allowed {
			continue
		}
		where := d.Origin
		if where == "" {
			where = string(d.Source)
		}
		// The target is the tool's choice: shown on one line, no escapes.
		fmt.Fprintf(w, "airlock: denied %s %s %s: %s (%s)\n", d.Kind, d.Op, approvals.NeutraliseLine(d.Target), d.Rule, where)
	}
	if res.Stdout.Truncated {
		fmt.Fprintf(w, "airlock: stdout was cut at %s (limits.output)\n", sizeString(pol.Limits.Output))
	}
	if res.Stderr.Truncated {
		fmt.Fprintf(w, "airlock: stderr was cut at %s (limits.output)\n", sizeString(pol.Limits.Output))
	}
	switch res.Reason {
	case runtime.Timeout:
		fmt.Fprintf(w, "airlock: stopped the tool after %s (limits.timeout)\n", pol.Limits.Timeout)
	case runtime.MemoryLimit:
		fmt.Fprintf(w, "airlock: the tool ran out of memory at its limit of %s (limits.memory)\n", sizeString(int64(pol.Limits.Memory)))
	case runtime.Trapped:
		fmt.Fprintf(w, "airlock: the tool crashed: %s\n", firstLine(res.Err))
	case runtime.Canceled:
		fmt.Fprintln(w, "airlock: "+stopText(res.Err))
	}
}

func exitStatus(res *runtime.Result, failOnDeny bool) int {
	switch res.Reason {
	case runtime.Timeout:
		return ExitTimeout
	case runtime.MemoryLimit:
		return ExitMemoryLimit
	case runtime.Trapped:
		return ExitTrap
	case runtime.Canceled:
		return stopStatus(res.Err)
	}
	if failOnDeny && res.ExitCode == 0 {
		for _, d := range res.Decisions {
			if !d.Allowed {
				return ExitDenied
			}
		}
	}
	return int(res.ExitCode & 0xff)
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkBuildPlaces looks, before a Go tool folder is built, at what of the
// build a tool running under pol could have changed
// (runtime.BuildExposures). A Go toolchain a tool could replace is refused:
// airlock would run it natively. A tool folder, module or cache a tool
// could have rewritten is built (offline, without replace directives that
// leave the module: untrusted), with one line of warning, unless the
// manifest pins the module's digest, which is then checked.
func checkBuildPlaces(ctx context.Context, eng *runtime.Engine, module string, pol *policy.Policy, tool toolSpec, stderr io.Writer) (untrusted bool, err error) {
	if tool.man != nil {
		pol = runtime.WithWritable(pol, tool.man.Requests.Write) // a person may grant them
	}
	xs, err := eng.BuildExposures(ctx, module, pol)
	if err != nil || len(xs) == 0 {
		return false, nil // not a folder, or no Go: loading says so
	}
	for _, x := range xs {
		if x.Toolchain {
			return true, fail(ExitNoModule, "not building %s: %v, so a tool could have replaced the compiler airlock would run outside the sandbox; build it outside airlock", module, x)
		}
	}
	if tool.man == nil || tool.man.Digest == "" {
		fmt.Fprintf(stderr, "airlock: warning: %v: a tool could have changed what is built; pin its digest in a manifest (tool.hcl) to be sure\n", xs[0])
	}
	return true, nil
}
