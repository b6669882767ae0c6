package approvals_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func projectOrigin() policy.Origin {
	return policy.Origin{Layer: policy.LayerProject, Range: hcl.Range{Filename: "policy.hcl", Start: hcl.Pos{Line: 3, Column: 1}}}
}

func roWrite(target string) decision.Request {
	return decision.Request{Kind: decision.FSWrite, Op: "open", Target: target, Policy: policy.Ask,
		Rule: `mount "/ro" access = "read"`, Origin: projectOrigin()}
}

func netAsk(target string) decision.Request {
	return decision.Request{Kind: decision.NetConnect, Op: "connect", Target: target, Policy: policy.Ask,
		Rule: `network.default = "ask"`, Origin: projectOrigin()}
}

type fixture struct {
	dir    string
	grants *approvals.Grants
	audit  *approvals.AuditLog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	g, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(dir))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a, err := approvals.OpenAudit(approvals.DefaultAuditFile(dir), approvals.DefaultSyncInterval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &fixture{dir: dir, grants: g, audit: a}
}

// records reads the audit log back.
func (f *fixture) records(t *testing.T) []approvals.AuditRecord {
	t.Helper()
	if err := f.audit.Sync(); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(f.audit.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var recs []approvals.AuditRecord
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var r approvals.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// decide runs a request through a real gate, as a host function would.
func decide(run *approvals.Run, r decision.Request) decision.Decision {
	g := host.NewGate(context.Background(), run, run.Record)
	g.Decide(r, "EROFS")
	return g.Decisions()[0]
}

func TestModes(t *testing.T) {
	cases := []struct {
		mode    policy.Mode
		answers []approvals.Choice
		allowed bool
		source  decision.Source
		asked   int
	}{
		{policy.ModeNever, []approvals.Choice{approvals.AllowOnce}, false, decision.SourceRule, 0},
		{policy.ModeOnFailure, []approvals.Choice{approvals.AllowOnce}, false, decision.SourceRule, 0},
		{policy.ModeUntrusted, []approvals.Choice{approvals.AllowOnce}, true, decision.SourceUser, 1},
		{policy.ModeOnRequest, []approvals.Choice{approvals.Deny}, false, decision.SourceUser, 1},
		{"", []approvals.Choice{approvals.AllowOnce}, true, decision.SourceUser, 1},
	}
	for _, c := range cases {
		t.Run(string(c.mode), func(t *testing.T) {
			f := newFixture(t)
			s := &approvals.Scripted{Answers: c.answers}
			b := approvals.NewBroker(approvals.Config{Approver: s, Grants: f.grants, Audit: f.audit})
			run := b.NewRun(approvals.RunInfo{Tool: "write", Digest: digestA, Mode: c.mode, Args: []string{"secret-arg"}})
			d := decide(run, roWrite("/ro/out.txt"))
			if d.Allowed != c.allowed || d.Source != c.source {
				t.Errorf("decision allowed=%v source=%s, want %v %s", d.Allowed, d.Source, c.allowed, c.source)
			}
			if n := len(s.Asked()); n != c.asked {
				t.Errorf("asked %d times, want %d", n, c.asked)
			}
			if c.mode == policy.ModeOnFailure {
				if den := run.Denied(); len(den) != 1 || den[0].Target != "/ro/out.txt" {
					t.Errorf("on-failure kept %v", den)
				}
			}
			recs := f.records(t)
			if len(recs) != 1 {
				t.Fatalf("%d audit records", len(recs))
			}
			r := recs[0]
			if r.Tool != "write" || r.Digest != digestA || r.Target != "/ro/out.txt" || r.Source != string(c.source) ||
				r.Layer != "project" || r.Origin != "policy.hcl:3:1" || r.Run != run.ID() {
				t.Errorf("record %+v", r)
			}
			if r.Args != (approvals.Redacted{Count: 1, Bytes: len("secret-arg")}) {
				t.Errorf("args %+v", r.Args)
			}
		})
	}
}

func TestRunMemoryAndGrants(t *testing.T) {
	f := newFixture(t)
	s := &approvals.Scripted{Answers: []approvals.Choice{
		approvals.AllowOnce,   // /ro/a: once
		approvals.AllowOnce,   // /ro/a again: asked again
		approvals.AllowRun,    // /ro/b: for the run
		approvals.Deny,        // /ro/c: denied, not asked again this run
		approvals.AlwaysAllow, // api:443: remembered
		approvals.AlwaysDeny,  // evil:443: remembered
	}}
	b := approvals.NewBroker(approvals.Config{Approver: s, Grants: f.grants, Audit: f.audit})
	run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
	steps := []struct {
		req     decision.Request
		allowed bool
		source  decision.Source
	}{
		{roWrite("/ro/a"), true, decision.SourceUser},
		{roWrite("/ro/a"), true, decision.SourceUser},
		{roWrite("/ro/b"), true, decision.SourceUser},
		{roWrite("/ro/b"), true, decision.SourceUser}, // from the run's memory
		{roWrite("/ro/c"), false, decision.SourceUser},
		{roWrite("/ro/c"), false, decision.SourceUser}, // from the run's memory
		{netAsk("api.example.com:443"), true, decision.SourceUser},
		{netAsk("evil.example.com:443"), false, decision.SourceUser},
	}
	for i, st := range steps {
		d := decide(run, st.req)
		if d.Allowed != st.allowed || d.Source != st.source {
			t.Errorf("step %d %s: allowed=%v source=%s", i, st.req.Target, d.Allowed, d.Source)
		}
	}
	if n := len(s.Asked()); n != 6 {
		t.Errorf("asked %d times, want 6", n)
	}

	// A new run of the same module: the remembered grants answer.
	g2, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(f.dir))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	s2 := &approvals.Scripted{Default: approvals.AllowOnce}
	b2 := approvals.NewBroker(approvals.Config{Approver: s2, Grants: g2, Audit: f.audit})
	run2 := b2.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
	if d := decide(run2, netAsk("api.example.com:443")); !d.Allowed || d.Source != decision.SourceGrant {
		t.Errorf("remembered allow: %+v", d)
	}
	if d := decide(run2, netAsk("evil.example.com:443")); d.Allowed || d.Source != decision.SourceGrant {
		t.Errorf("remembered deny: %+v", d)
	}
	if d := decide(run2, roWrite("/ro/b")); !d.Allowed || d.Source != decision.SourceUser {
		t.Errorf("allow for this run leaked into another run: %+v", d)
	}
	// Grants apply in every mode, even never.
	run3 := b2.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeNever})
	if d := decide(run3, netAsk("api.example.com:443")); !d.Allowed || d.Source != decision.SourceGrant {
		t.Errorf("grant in never mode: %+v", d)
	}
	// Another module with the same tool name has no grant: it is asked.
	runB := b2.NewRun(approvals.RunInfo{Tool: "t", Digest: digestB, Mode: policy.ModeUntrusted})
	before := len(s2.Asked())
	if d := decide(runB, netAsk("api.example.com:443")); d.Source != decision.SourceUser || len(s2.Asked()) != before+1 {
		t.Errorf("a grant leaked to another digest: %+v", d)
	}

	var answers []string
	for _, r := range f.records(t) {
		if r.Source == "grant" {
			answers = append(answers, r.Answer+"/"+r.Layer)
		}
	}
	if !slices.Equal(answers, []string{"always allow/grant", "always deny/grant", "always allow/grant"}) {
		t.Errorf("grant records: %v", answers)
	}
}

// TestManagedAskIsAsked: a managed network block that says "ask" turns a
// project's allow into a question, and the question is put.
func TestManagedAskIsAsked(t *testing.T) {
	s := &approvals.Scripted{Default: approvals.AllowOnce}
	b := approvals.NewBroker(approvals.Config{Approver: s})
	run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
	r := netAsk("example.org:443")
	r.Origin = policy.Origin{Layer: policy.LayerManaged}
	if d := decide(run, r); !d.Allowed || len(s.Asked()) != 1 {
		t.Errorf("a managed ask: %+v, asked %d", d, len(s.Asked()))
	}
}

func TestHeadless(t *testing.T) {
	for _, v := range []policy.Verdict{policy.Deny, policy.Allow} {
		// A terminal that is not there falls through to the headless answer.
		b := approvals.NewBroker(approvals.Config{Approver: &approvals.Scripted{CannotAsk: true}, Headless: v})
		run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
		d := decide(run, roWrite("/ro/x"))
		if d.Allowed != (v == policy.Allow) || d.Source != decision.SourceHeadless {
			t.Errorf("headless %v: %+v", v, d)
		}
	}
	// Without grants, nothing can be remembered: "always" is not offered.
	s := &approvals.Scripted{Default: approvals.AlwaysAllow}
	b := approvals.NewBroker(approvals.Config{Approver: s})
	run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
	if d := decide(run, roWrite("/ro/x")); d.Allowed {
		t.Errorf("an answer that was not offered was taken: %+v", d)
	}
	if q := s.Asked()[0]; q.Offers(approvals.AlwaysAllow) || !q.Offers(approvals.AllowOnce) {
		t.Errorf("offer %v", q.Offer)
	}
}

// TestQueue: several waiting host calls get one prompt at a time, and the
// same question waiting twice is asked once.
func TestQueue(t *testing.T) {
	release := make(chan struct{})
	var open, maxOpen atomic.Int32
	inner := &approvals.Scripted{Default: approvals.AllowOnce}
	approver := approvals.ApproverFunc(func(ctx context.Context, q approvals.Question) (approvals.Answer, error) {
		n := open.Add(1)
		defer open.Add(-1)
		for {
			m := maxOpen.Load()
			if n <= m || maxOpen.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return inner.Approve(ctx, q)
	})
	b := approvals.NewBroker(approvals.Config{Approver: approver})

	var wg sync.WaitGroup
	results := make([]bool, 6)
	targets := []string{"a:1", "a:1", "a:1", "b:1", "c:1", "b:1"}
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each call is its own run of the same module, as in the MCP server.
			run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
			results[i] = run.Ask(context.Background(), netAsk(target)).Allowed
		}()
	}
	time.Sleep(100 * time.Millisecond) // let every call queue
	close(release)
	wg.Wait()
	if maxOpen.Load() != 1 {
		t.Errorf("%d prompts were open at once", maxOpen.Load())
	}
	if n := len(inner.Asked()); n != 3 {
		t.Errorf("asked %d questions, want 3 (a, b, c once each)", n)
	}
	for i, ok := range results {
		if !ok {
			t.Errorf("call %d (%s) was not allowed", i, targets[i])
		}
	}
}

func TestQueueWithdrawn(t *testing.T) {
	s := &approvals.Scripted{Default: approvals.AllowOnce, Hold: make(chan struct{})}
	b := approvals.NewBroker(approvals.Config{Approver: s})
	run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeUntrusted})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if rep := run.Ask(ctx, netAsk("x:1")); rep.Allowed || rep.Ended != decision.EndedRunEnded {
		t.Error("a withdrawn question was allowed")
	}
	if time.Since(start) > 2*time.Second {
		t.Error("the run's end did not withdraw the question")
	}
}

func TestEscalate(t *testing.T) {
	dir := t.TempDir()
	p, diags := policy.Parse([]byte(`
mount "/work" {
  host = "."
  access = "read"
}
limits {
  memory = "64MiB"
}
`), "policy.hcl", policy.LayerProject, dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	managedPath := filepath.Join(t.TempDir(), "managed.hcl")
	os.WriteFile(managedPath, []byte("limits {\n  memory = \"128MiB\"\n}\n"), 0o644)
	var l policy.Loader
	ceiling, diags := l.LoadCeiling([]string{managedPath})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if p, diags = ceiling.Apply(p); diags.HasErrors() {
		t.Fatal(diags)
	}
	e := policy.Escalation{Env: []string{"GITHUB_USER"}, Write: []string{"/work"}, Memory: 512 << 20}

	f := newFixture(t)
	s := &approvals.Scripted{Default: approvals.AlwaysAllow}
	b := approvals.NewBroker(approvals.Config{Approver: s, Grants: f.grants, Audit: f.audit, Ceiling: ceiling})
	run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeOnRequest})
	q, decisions, err := run.Escalate(context.Background(), p, e)
	if err != nil {
		t.Fatal(err)
	}
	asked := s.Asked()
	if len(asked) != 1 || len(asked[0].Items) != 2 || asked[0].Why != approvals.WhyManifest {
		t.Fatalf("questions %+v: want one with env and write (memory is above the managed maximum)", asked)
	}
	if !slices.Contains(q.Env.Pass, "GITHUB_USER") || q.Mounts[0].Access != policy.Write || q.Limits.Memory != 64<<20 {
		t.Errorf("granted policy: pass %v access %v memory %d", q.Env.Pass, q.Mounts[0].Access, q.Limits.Memory)
	}
	var got []string
	for _, d := range decisions {
		got = append(got, string(d.Kind)+"="+map[bool]string{true: "allow", false: "deny"}[d.Allowed]+"/"+string(d.Source))
	}
	if !slices.Equal(got, []string{"limits.memory=deny/rule", "env=allow/user", "mount.write=allow/user"}) {
		t.Errorf("decisions %v", got)
	}

	// Remembered: a second run is not asked; the grant is named in the policy.
	run2 := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeOnRequest})
	q2, _, err := run2.Escalate(context.Background(), p, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Asked()) != 1 {
		t.Errorf("asked again despite the grants")
	}
	if o := q2.Env.Origins["GITHUB_USER"]; o.Layer != policy.LayerGrant || filepath.Base(o.Range.Filename) != "grants.hcl" {
		t.Errorf("grant origin %v", o)
	}

	// untrusted and never do not grant a manifest's requests.
	for _, mode := range []policy.Mode{policy.ModeUntrusted, policy.ModeNever} {
		s3 := &approvals.Scripted{Default: approvals.AllowOnce}
		b3 := approvals.NewBroker(approvals.Config{Approver: s3, Ceiling: ceiling})
		q3, _, err := b3.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: mode}).Escalate(context.Background(), p, e)
		if err != nil {
			t.Fatal(err)
		}
		if len(s3.Asked()) != 0 || slices.Contains(q3.Env.Pass, "GITHUB_USER") {
			t.Errorf("%s granted a manifest request", mode)
		}
	}
}

func TestOfferRerun(t *testing.T) {
	f := newFixture(t)
	b := approvals.NewBroker(approvals.Config{Approver: &approvals.Scripted{Default: approvals.AllowOnce}, Grants: f.grants, Audit: f.audit})
	run := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeOnFailure})
	decide(run, roWrite("/ro/a"))
	decide(run, roWrite("/ro/a"))
	decide(run, roWrite("/ro/b"))
	denied := run.Denied()
	if len(denied) != 2 {
		t.Fatalf("denied %v", denied)
	}
	if ans := run.OfferRerun(context.Background(), denied); ans.Choice != approvals.AllowOnce {
		t.Fatalf("answer %v", ans)
	}
	next := b.NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeOnFailure})
	next.Allow(denied)
	if d := decide(next, roWrite("/ro/b")); !d.Allowed {
		t.Errorf("the rerun did not get the grant: %+v", d)
	}
	if d := decide(next, roWrite("/ro/other")); d.Allowed {
		t.Errorf("the rerun got more than was granted: %+v", d)
	}
}

// TestOnFailureDenialsDoNotSlowDown: in on-failure mode every refused
// request is kept for the rerun offer, once. A tool asking for a new name
// in a read-only mount in a loop made each check scan all the names kept
// before (quadratic: 20,000 refusals took 31 s of airlock's time, and a
// host call stuck there outlives the MCP call it belongs to). The work of
// one refusal must not grow with the refusals before it: measured as the
// allocations of one Ask, which are deterministic, after 0 and after 2,000.
func TestOnFailureDenialsDoNotSlowDown(t *testing.T) {
	run := approvals.NewBroker(approvals.Config{}).NewRun(approvals.RunInfo{Tool: "t", Digest: digestA, Mode: policy.ModeOnFailure})
	n := 0
	ask := func() {
		n++
		run.Ask(context.Background(), roWrite("/ro/generated/by/a/tool/file-"+strconv.Itoa(n)+".txt"))
	}
	first := testing.AllocsPerRun(50, ask)
	for range 2000 {
		ask()
	}
	later := testing.AllocsPerRun(50, ask)
	if later > first+5 {
		t.Errorf("one refusal allocates %.0f times after 2,000 others, %.0f after none", later, first)
	}
	if got := len(run.Denied()); got != n {
		t.Errorf("%d kept for the rerun, want %d", got, n)
	}
}
