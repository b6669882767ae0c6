package mcp_test

import (
	"fmt"
	"strings"
	"testing"
)

// A call sees nothing of the call before it: not its memory (the same
// allocation lands on a page of its own, zero; a global of the module's
// data holds its initial value, a zeroed global zeros), not its
// environment, not the file it left open. Each call is a fresh instance;
// its memory may be the mapping the call before left (runtime's
// mempool_linux.go), reset: this holds the server to it, through a real
// client.
func TestNextCallSeesNothingOfThePrevious(t *testing.T) {
	const secret = "left-behind-7f3a9c"
	e := newEnv(t, nil,
		guestTool(t, "leave", "leave", "{secret}"),
		guestTool(t, "look", "look", "{secret}", "{addr}", "{fd}"))
	cs := e.connect(t, inMemory, nil)
	for i := range 3 {
		res := call(t, cs, "leave", map[string]any{"secret": secret})
		if res.IsError {
			t.Fatalf("leave: %s", texts(res))
		}
		var addr, fd uint64
		if _, err := fmt.Sscan(texts(res), &addr, &fd); err != nil || addr == 0 {
			t.Fatalf("leave printed %q: %v", texts(res), err)
		}
		res = call(t, cs, "look", map[string]any{"secret": secret, "addr": fmt.Sprint(addr), "fd": fmt.Sprint(fd)})
		out := strings.TrimSpace(texts(res))
		if res.IsError || out != `memory:false own-buffer:false data:"pristine" zeroed:true env:"" fd:closed` {
			t.Fatalf("round %d: the next call saw: %s", i, out)
		}
		if strings.Contains(out, secret) {
			t.Fatalf("the secret reached the next call's output: %s", out)
		}
	}
}
