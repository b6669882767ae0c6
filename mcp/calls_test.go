package mcp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/mcp"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	start, expired := time.Now(), expiry(t)
	for !cond() {
		select {
		case <-expired:
			t.Fatalf("timed out after %s waiting for %s", time.Since(start).Round(time.Second), what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func idle(e *env) func() bool {
	return func() bool { return e.srv.Stats() == mcp.Stats{} }
}

// TestDigestMismatch: a module that is not the one its manifest pins is
// listed, but every call refuses to run it, saying why.
func TestDigestMismatch(t *testing.T) {
	t.Parallel()
	bad := guestTool(t, "pinned", "json")
	bad.digest = "sha256:" + strings.Repeat("ab", 32)
	e := newEnv(t, nil, bad)
	cs := e.connect(t, inMemory, nil)
	res := call(t, cs, "pinned", nil)
	if !res.IsError {
		t.Fatalf("a module with the wrong digest ran: %s", texts(res))
	}
	got := texts(res)
	for _, want := range []string{"refusing to run pinned", bad.digest, digestOf(t, guestWasm), "pinned.tool.hcl:"} {
		if !strings.Contains(got, want) {
			t.Errorf("result %q does not say %q", got, want)
		}
	}
	if runMeta(t, res) != nil {
		t.Error("the tool ran")
	}
}

// TestCancel: cancelling a call stops its tool, over each transport, and
// the call sees progress notifications while it runs.
func TestCancel(t *testing.T) {
	for _, kind := range []string{inMemory, overHTTP} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *mcp.Options) { o.ProgressInterval = 50 * time.Millisecond }, guestTool(t, "spin", "spin"))
			progress := make(chan string, 100)
			cs := e.connect(t, kind, &sdk.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
					progress <- r.Params.Message
				},
			})
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "spin", Meta: sdk.Meta{"progressToken": "p1"}})
				errc <- err
			}()
			select {
			case msg := <-progress:
				if !strings.HasPrefix(msg, "spin running") && !strings.HasPrefix(msg, "spin queued") {
					t.Errorf("progress message %q, want \"spin running Ns\"", msg)
				}
			case <-expiry(t):
				t.Fatal("no progress notification")
			}
			if st := e.srv.Stats(); st.Running != 1 {
				t.Errorf("stats while spinning = %+v, want 1 running", st)
			}
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled call returned %v", err)
				}
			case <-expiry(t):
				t.Fatal("the cancelled call did not return")
			}
			// The guest really stops: the slot and the call are released.
			waitFor(t, "the run to stop", idle(e))
		})
	}
}

// TestStuckToolDoesNotBlockOthers: one call spins until its timeout while
// other calls, with the slots that are left, complete.
func TestStuckToolDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *mcp.Options) {
		o.MaxConcurrent = 2
		o.Policy.Limits.Timeout = 8 * time.Second
	}, guestTool(t, "spin", "spin"), guestTool(t, "json", "json", "{n}"))
	cs := e.connect(t, inMemory, nil)

	stuck := make(chan *sdk.CallToolResult, 1)
	start := time.Now()
	go func() { stuck <- call(t, cs, "spin", nil) }()
	waitFor(t, "spin to run", func() bool { return e.srv.Stats().Running == 1 })

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := call(t, cs, "json", map[string]any{"n": fmt.Sprint(i)})
			if res.IsError || !strings.Contains(texts(res), fmt.Sprintf(`"args":["%d"]`, i)) {
				t.Errorf("call %d: %s", i, texts(res))
			}
		}()
	}
	wg.Wait()
	select {
	case <-stuck:
		t.Fatalf("the other calls took %s, longer than the spinning tool's timeout: it held them up", time.Since(start))
	default:
	}
	res := <-stuck
	if d := time.Since(start); d < 8*time.Second {
		t.Errorf("spin returned after %s, before its timeout", d)
	}
	if !res.IsError || !strings.Contains(texts(res), "limits.timeout") {
		t.Errorf("spin's result = %q, want a timeout", texts(res))
	}
	if m := runMeta(t, res); m == nil || m.Reason != "timeout" {
		t.Errorf("spin's run meta = %+v, want reason timeout", m)
	}
	waitFor(t, "the server to be idle", idle(e))
}

// TestQueue: with one slot, calls wait their turn, and a queued call that
// is cancelled leaves the queue without running.
func TestQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *mcp.Options) { o.MaxConcurrent = 1 },
		guestTool(t, "sleep", "sleep", "{ms}"), guestTool(t, "spin", "spin"))
	cs := e.connect(t, inMemory, nil)

	first := make(chan *sdk.CallToolResult, 1)
	go func() { first <- call(t, cs, "sleep", map[string]any{"ms": "600"}) }()
	waitFor(t, "the first call to run", func() bool { return e.srv.Stats().Running == 1 })

	ctx, cancel := context.WithCancel(t.Context())
	queued := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "spin"})
		queued <- err
	}()
	waitFor(t, "the second call to queue", func() bool { return e.srv.Stats().Calls == 2 })
	if st := e.srv.Stats(); st.Running != 1 {
		t.Fatalf("stats = %+v, want one running and one queued", st)
	}
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled queued call: %v", err)
	}
	res := <-first
	if res.IsError || !strings.Contains(texts(res), "slept") {
		t.Errorf("first call: %s", texts(res))
	}
	waitFor(t, "the server to be idle", idle(e))
}

// TestToolFailure: a tool that exits non-zero is a tool error carrying its
// stderr and exit status.
func TestToolFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, guestTool(t, "fail", "fail", "{msg}"))
	cs := e.connect(t, inMemory, nil)
	res := call(t, cs, "fail", map[string]any{"msg": "no such thing"})
	if !res.IsError {
		t.Fatal("a failing tool is not a tool error")
	}
	got := texts(res)
	for _, want := range []string{"no such thing", "exited with status 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("result %q lacks %q", got, want)
		}
	}
}

// TestMemoryLimit: each call's memory is bounded by the policy; a tool that
// reaches past it fails alone, and the next call runs.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *mcp.Options) { o.Policy.Limits.Memory = 32 << 20 }, guestTool(t, "alloc", "alloc", "{mib}"))
	cs := e.connect(t, inMemory, nil)
	res := call(t, cs, "alloc", map[string]any{"mib": "64"})
	if !res.IsError || !strings.Contains(texts(res), "ran out of memory at its limit of 32 MiB") {
		t.Errorf("allocating 64 MiB under a 32 MiB limit: %s", texts(res))
	}
	if m := runMeta(t, res); m == nil || m.Reason != "memory-limit" || m.Memory > 32<<20 {
		t.Errorf("run meta = %+v, want memory-limit within 32 MiB", m)
	}
	res = call(t, cs, "alloc", map[string]any{"mib": "8"})
	if res.IsError || !strings.Contains(texts(res), "allocated") {
		t.Errorf("allocating 8 MiB: %s", texts(res))
	}
}
