package mcp_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// waitingEngine is an engine like the tests' own that counts the guests'
// host calls that may wait on a person while they are in flight
// (airlock_test.ask, and path_open into a read-only mount): a host-side
// proof that two calls are both waiting on their questions.
func waitingEngine(t *testing.T) (*runtime.Engine, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	eng, err := runtime.New(context.Background(), runtime.Config{
		CacheDir:  compileCache(),
		HostFuncs: []host.Func{askFunc},
		Wrap: func(module, name string, fn api.GoModuleFunction) api.GoModuleFunction {
			if name != "ask" && name != "path_open" && name != "path_rename" {
				return fn
			}
			return api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				n.Add(1)
				defer n.Add(-1)
				fn.Call(ctx, m, stack)
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return eng, &n
}

// gate is an MCP client's elicitation handler that holds its first
// question until ready says so (or 10s pass), then answers every question
// with decision ("" declines). It records the questions, how many were
// open at once, and what it saw when it let the first one go.
type gate struct {
	decision string
	ready    func() bool
	atReady  func() // called once when ready, before answering

	mu        sync.Mutex
	messages  []string
	open, max int
	timedOut  bool
}

func (g *gate) handle(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
	g.mu.Lock()
	g.messages = append(g.messages, req.Params.Message)
	first := len(g.messages) == 1
	g.open++
	g.max = max(g.max, g.open)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.open--
		g.mu.Unlock()
	}()
	if first {
		deadline := time.Now().Add(10 * time.Second)
		ready := g.ready()
		for ; !ready && time.Now().Before(deadline); ready = g.ready() {
			time.Sleep(5 * time.Millisecond)
		}
		g.mu.Lock()
		g.timedOut = !ready
		g.mu.Unlock()
		if g.atReady != nil {
			g.atReady()
		}
		// Give whatever joins or queues behind this question time to (a
		// host call counted as waiting is microseconds from the broker):
		// a second question sent at once would arrive meanwhile.
		time.Sleep(150 * time.Millisecond)
	}
	if g.decision == "" {
		return &sdk.ElicitResult{Action: "decline"}, nil
	}
	return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"decision": g.decision}}, nil
}

func (g *gate) report() (messages []string, maxOpen int, timedOut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.messages...), g.max, g.timedOut
}

// callAll calls the tools at once, each on its session, and returns their
// results in order; a protocol error fails the test.
func callAll(t *testing.T, calls ...func(ctx context.Context) (*sdk.CallToolResult, error)) []*sdk.CallToolResult {
	t.Helper()
	ctx, cancel := deadline(t, t.Context())
	defer cancel()
	res := make([]*sdk.CallToolResult, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { res[i], errs[i] = c(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	return res
}

func callOn(cs *sdk.ClientSession, name string, args map[string]any) func(context.Context) (*sdk.CallToolResult, error) {
	return func(ctx context.Context) (*sdk.CallToolResult, error) {
		return cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	}
}

// protocols are the two generations an approval travels on: an
// elicitation/create in the middle of the call, and an input-required
// result that the client retries.
var protocols = []struct {
	name   string
	change func(*mcp.Options)
}{{"2026-07-28", nil}, {"2025-11-25", legacy}}

// TestSessionAsksOnce: two parallel calls of one session that wait on the
// same question get one elicitation between them, and both get its answer.
func TestSessionAsksOnce(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			eng, waiting := waitingEngine(t)
			e := newEnv(t, func(o *mcp.Options) {
				o.Engine = eng
				if proto.change != nil {
					proto.change(o)
				}
			}, askTool(t))
			var brokers atomic.Int32
			g := &gate{decision: "allow once", ready: func() bool { return waiting.Load() == 2 },
				atReady: func() { brokers.Store(int32(e.srv.Brokers())) }}
			cs := e.connect(t, inMemory, &sdk.ClientOptions{ElicitationHandler: g.handle})

			res := callAll(t, callOn(cs, "ask", nil), callOn(cs, "ask", nil))

			shown, _, timedOut := g.report()
			if timedOut {
				t.Fatal("the two calls were never both waiting on the question")
			}
			if len(shown) != 1 {
				t.Errorf("the client was asked %d times, want once: %q", len(shown), shown)
			}
			for i, r := range res {
				if got := strings.TrimSpace(texts(r)); got != "allowed" {
					t.Errorf("call %d: the tool says %q, want allowed", i, got)
				}
				if d := askDecision(t, r); !d.Allowed || d.Source != decision.SourceUser {
					t.Errorf("call %d: decision %+v, want allowed by the user", i, d)
				}
			}
			if n := brokers.Load(); n != 1 {
				t.Errorf("%d approvals brokers while one session's calls waited, want 1", n)
			}
			waitFor(t, "the server to be idle", idle(e))
			if n := e.srv.Brokers(); n != 0 {
				t.Errorf("%d approvals brokers left after the calls ended, want 0", n)
			}
		})
	}
}

// TestSessionAsksInTurn: the questions of one session's parallel calls are
// put to its client one at a time.
func TestSessionAsksInTurn(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			eng, waiting := waitingEngine(t)
			e := newEnv(t, func(o *mcp.Options) {
				o.Engine = eng
				p := *o.Policy
				p.Mounts = append([]policy.Mount(nil), p.Mounts...)
				p.Mounts[0].Access = policy.Read
				o.Policy = &p
				if proto.change != nil {
					proto.change(o)
				}
			}, writeTool(t))
			g := &gate{decision: "allow once", ready: func() bool { return waiting.Load() >= 2 }}
			cs := e.connect(t, inMemory, &sdk.ClientOptions{ElicitationHandler: g.handle})

			res := callAll(t, callOn(cs, "write", map[string]any{"file": "/work/a.txt", "text": "A"}),
				callOn(cs, "write", map[string]any{"file": "/work/b.txt", "text": "B"}))

			// Each write (a temporary file renamed over the target) asks
			// once, about the target.
			shown, maxOpen, timedOut := g.report()
			if timedOut {
				t.Fatal("the two calls were never both waiting")
			}
			if len(shown) != 2 || maxOpen != 1 {
				t.Errorf("%d questions, at most %d open at once; want 2, one at a time: %q", len(shown), maxOpen, shown)
			}
			for _, m := range shown {
				if strings.Contains(m, ".tmp") {
					t.Errorf("a question names the temporary file: %q", m)
				}
			}
			for i, name := range []string{"a.txt", "b.txt"} {
				if _, err := os.Stat(filepath.Join(e.work, name)); res[i].IsError || err != nil {
					t.Errorf("write %s: isError=%v %s; file: %v", name, res[i].IsError, texts(res[i]), err)
				}
			}
		})
	}
}

// TestSessionsAskApart: the same question from two sessions is asked of
// each session's client, and each call gets its own client's answer: one
// client never answers for another.
func TestSessionsAskApart(t *testing.T) {
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			t.Parallel()
			eng, waiting := waitingEngine(t)
			e := newEnv(t, func(o *mcp.Options) {
				o.Engine = eng
				if proto.change != nil {
					proto.change(o)
				}
			}, askTool(t))
			var brokers atomic.Int32
			both := func() bool { return waiting.Load() == 2 }
			note := func() { brokers.Store(int32(e.srv.Brokers())) }
			yes := &gate{decision: "allow once", ready: both, atReady: note}
			no := &gate{ready: both, atReady: note}
			csYes := e.connect(t, inMemory, &sdk.ClientOptions{ElicitationHandler: yes.handle})
			csNo := e.connect(t, inMemory, &sdk.ClientOptions{ElicitationHandler: no.handle})

			res := callAll(t, callOn(csYes, "ask", nil), callOn(csNo, "ask", nil))

			for i, tc := range []struct {
				g    *gate
				want string
			}{{yes, "allowed"}, {no, "denied"}} {
				shown, _, timedOut := tc.g.report()
				if len(shown) != 1 || timedOut {
					t.Errorf("session %d: asked %d times (timed out waiting for both calls: %v), want once", i, len(shown), timedOut)
				}
				if got := strings.TrimSpace(texts(res[i])); !strings.HasPrefix(got, tc.want) {
					t.Errorf("session %d: the tool says %q, want %s", i, got, tc.want)
				}
				if d := askDecision(t, res[i]); d.Allowed != (tc.want == "allowed") || d.Source != decision.SourceUser {
					t.Errorf("session %d: decision %+v, want %s by the user", i, d, tc.want)
				}
			}
			if n := brokers.Load(); n != 2 {
				t.Errorf("%d approvals brokers while two sessions' calls waited, want 2", n)
			}
			waitFor(t, "the server to be idle", idle(e))
			if n := e.srv.Brokers(); n != 0 {
				t.Errorf("%d approvals brokers left after the calls ended, want 0", n)
			}
		})
	}
}
