package runtime

import (
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// TestNativeWASINamesNestedHostDirectories: an engine with a native WASI
// reaches a mount whose host directory lies inside another's through that
// other one, so it names the pair as a rule it cannot enforce.
func TestNativeWASINamesNestedHostDirectories(t *testing.T) {
	p := &policy.Policy{Mounts: []policy.Mount{
		{Guest: "/", Host: "/srv/proj", Access: policy.Write},
		{Guest: "/ro", Host: "/srv/proj/docs", Access: policy.Read},
		{Guest: "/other", Host: "/srv/projects", Access: policy.Read}, // a sibling with a common prefix
	}}
	var rules []string
	for _, u := range nativeWASIGaps(p) {
		rules = append(rules, u.Rule)
	}
	if len(rules) != 1 || rules[0] != "mount /ro inside the host directory of mount /" {
		t.Fatalf("gaps %q, want only /ro inside /", strings.Join(rules, "; "))
	}
}
