package mcp_test

import (
	"net/http"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/mcp"
)

// A call over stdio (one client) shares the group "" with the calls before
// it; a call over HTTP without a session (protocol 2026-07-28 is served
// statelessly: nothing tells its client from another) is a group of its
// own, so its run never gets memory another client's call left.
func TestEachClientHasItsOwnMemoryGroup(t *testing.T) {
	if g := mcp.MemoryGroup(&sdk.CallToolRequest{}, "c1"); g != "" {
		t.Errorf("stdio: group %q, want \"\"", g)
	}
	http1 := mcp.MemoryGroup(&sdk.CallToolRequest{Extra: &sdk.RequestExtra{Header: http.Header{}}}, "c1")
	http2 := mcp.MemoryGroup(&sdk.CallToolRequest{Extra: &sdk.RequestExtra{Header: http.Header{}}}, "c2")
	if http1 == "" || http1 == http2 {
		t.Errorf("two stateless HTTP calls: groups %q and %q, want two of their own", http1, http2)
	}
}
