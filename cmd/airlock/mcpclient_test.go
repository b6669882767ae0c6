package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// stdioClient speaks MCP's stdio transport (one JSON-RPC message a line)
// to an airlock binary it started, plainly, so a test can do what an
// agent's configuration does: start the command line and talk to it.
type stdioClient struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	msgs chan map[string]json.RawMessage
	id   int
}

// startMCP starts command (the airlock binary, or what a configuration
// names) with args in dir, and initializes an MCP session with it.
func startMCP(t *testing.T, dir string, env []string, command string, args ...string) *stdioClient {
	t.Helper()
	cmd := exec.Command(command, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), env...)
	cmd.Stderr = io.Discard // the server's log
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &stdioClient{t: t, cmd: cmd, in: in, msgs: make(chan map[string]json.RawMessage, 16)}
	go func() {
		defer close(c.msgs)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				c.msgs <- m
			}
		}
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	c.request("initialize", map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "airlock-cli-test", "version": "1"},
	})
	c.send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	return c
}

func (c *stdioClient) send(msg any) {
	b, _ := json.Marshal(msg)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("writing to the MCP server: %v", err)
	}
}

// request sends a request and returns its result; a JSON-RPC error fails
// the test.
func (c *stdioClient) request(method string, params any) json.RawMessage {
	c.t.Helper()
	c.id++
	id := c.id
	c.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("%s: the server closed stdout", method)
			}
			if string(m["id"]) != fmt.Sprint(id) {
				continue // a notification, or a request of the server's
			}
			if e := m["error"]; e != nil {
				c.t.Fatalf("%s: error %s", method, e)
			}
			return m["result"]
		case <-timeout:
			c.t.Fatalf("%s: no answer in 2 minutes", method)
		}
	}
}

// callTool calls a tool and returns its result's text and isError.
func (c *stdioClient) callTool(name string, args any) (text string, isError bool) {
	c.t.Helper()
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(c.request("tools/call", map[string]any{"name": name, "arguments": args}), &res); err != nil {
		c.t.Fatal(err)
	}
	for _, p := range res.Content {
		text += p.Text
	}
	return text, res.IsError
}
