package mcp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/mcp"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// post sends a JSON-RPC message to url the way a Streamable HTTP client
// does, with the headers set, and returns the status and body.
func post(t *testing.T, url, body string, set func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPGuard: requests with a foreign Host or Origin, or without the
// bearer token, are refused before they reach MCP.
func TestHTTPGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, grepTool(t))
	h, err := e.srv.Handler(mcp.HTTPOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	url := hs.URL + mcp.HTTPPath
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(hs.URL, "http://"))
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }
	with := func(fs ...func(*http.Request)) func(*http.Request) {
		return func(r *http.Request) {
			for _, f := range fs {
				f(r)
			}
		}
	}
	host := func(h string) func(*http.Request) { return func(r *http.Request) { r.Host = h } }
	origin := func(o string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Origin", o) } }

	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"token", auth, http.StatusOK},
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cres") }, http.StatusUnauthorized},
		{"token prefix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3c") }, http.StatusUnauthorized},
		{"basic auth", func(r *http.Request) { r.SetBasicAuth("u", "s3cret") }, http.StatusUnauthorized},
		{"Host localhost", with(auth, host("localhost:"+port)), http.StatusOK},
		{"Host [::1]", with(auth, host("[::1]:"+port)), http.StatusOK},
		{"Host rebinding", with(auth, host("evil.example:"+port)), http.StatusForbidden},
		{"Host localhost.evil", with(auth, host("localhost.evil.example")), http.StatusForbidden},
		{"Host 127.0.0.2", with(auth, host("127.0.0.2:"+port)), http.StatusForbidden},
		{"Origin same", with(auth, origin("http://127.0.0.1:"+port)), http.StatusOK},
		{"Origin other site", with(auth, origin("http://evil.example")), http.StatusForbidden},
		{"Origin other port", with(auth, origin("http://127.0.0.1:1")), http.StatusForbidden},
		{"Origin null", with(auth, origin("null")), http.StatusForbidden},
		{"Origin without token", origin("http://evil.example"), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, url, initializeBody, tc.set)
			if code != tc.want {
				t.Errorf("status %d, want %d: %s", code, tc.want, body)
			}
			if tc.want != http.StatusOK && !strings.HasPrefix(body, "airlock: ") {
				t.Errorf("refusal body %q does not say why", body)
			}
		})
	}
	if code, _ := post(t, hs.URL+"/other", initializeBody, auth); code != http.StatusNotFound {
		t.Errorf("another path: status %d, want 404", code)
	}

	if _, err := e.srv.Handler(mcp.HTTPOptions{AllowRemote: true}); err == nil {
		t.Error("AllowRemote without a token was accepted")
	}
}

// TestListen: the HTTP endpoint binds loopback only, unless told.
func TestListen(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		if ln, err := mcp.Listen(addr, false); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) without allowRemote succeeded", addr)
		} else if !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("Listen(%q): %v, want a refusal that says why", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, err := mcp.Listen(addr, false)
		if err != nil {
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("Listen(%q) bound %s", addr, ip)
		}
		ln.Close()
	}
	ln, err := mcp.Listen("0.0.0.0:0", true)
	if err != nil {
		t.Fatalf("Listen with allowRemote: %v", err)
	}
	ln.Close()
}

// TestDisconnectLeaksNothing: a client on a protocol before 2026-07-28
// that drops its HTTP connection in the middle of a call stops its tool;
// the server's goroutines return to where they were, and no temporary file
// is left.
func TestDisconnectLeaksNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := newEnv(t, nil, guestTool(t, "spin", "spin"))
	h, err := e.srv.Handler(mcp.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	url := hs.URL + mcp.HTTPPath

	// Warm up (a first call starts the SDK's and net/http's long-lived
	// goroutines), then take the baseline.
	spinOnce := func() {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr}
		do := func(ctx context.Context, sid, body string) (*http.Response, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			if sid != "" {
				req.Header.Set("Mcp-Session-Id", sid)
			}
			return cl.Do(req)
		}
		resp, err := do(t.Context(), "", initializeBody)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sid := resp.Header.Get("Mcp-Session-Id")
		if sid == "" {
			t.Fatal("no session id")
		}
		resp, err = do(t.Context(), sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()

		ctx, drop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := do(ctx, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"spin","arguments":{}}}`)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		waitFor(t, "spin to run", func() bool { return e.srv.Stats().Running == 1 })
		drop() // the client goes away without a word
		<-done
		waitFor(t, "the dropped call's tool to stop", idle(e))

		// End the session, as a client that comes back would find it gone.
		req, _ := http.NewRequest(http.MethodDelete, url, nil)
		req.Header.Set("Mcp-Session-Id", sid)
		if resp, err := cl.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	spinOnce()
	base := settledGoroutines()
	for range 3 {
		spinOnce()
	}
	if n := settledGoroutines(); n > base {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after three dropped calls\n%s", base, n, buf)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// settledGoroutines waits for the goroutine count to stop falling.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
