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
// own, so its run never gets memory another client's call left, and
// leaves none behind (no later call is of its group: kept, its mapping
// would only cost a reset and push out a session's).
func TestEachClientHasItsOwnMemoryGroup(t *testing.T) {
	if g, fresh := mcp.MemoryGroup(&sdk.CallToolRequest{}, "c1"); g != "" || fresh {
		t.Errorf("stdio: group %q fresh %v, want \"\" and reuse", g, fresh)
	}
	http1, fresh1 := mcp.MemoryGroup(&sdk.CallToolRequest{Extra: &sdk.RequestExtra{Header: http.Header{}}}, "c1")
	http2, fresh2 := mcp.MemoryGroup(&sdk.CallToolRequest{Extra: &sdk.RequestExtra{Header: http.Header{}}}, "c2")
	if http1 == "" || http1 == http2 {
		t.Errorf("two stateless HTTP calls: groups %q and %q, want two of their own", http1, http2)
	}
	if !fresh1 || !fresh2 {
		t.Errorf("a stateless HTTP call keeps its memory for a group no later call is of")
	}
}
