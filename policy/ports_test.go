package policy_test

import (
	"slices"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

func TestNetRulePorts(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		ports []policy.PortRange // nil: any port
	}{
		{"https://api.github.com", []policy.PortRange{{443, 443}}},
		{"http://example.com", []policy.PortRange{{80, 80}}},
		{"https://example.com:8443", []policy.PortRange{{8443, 8443}}},
		{"tcp://db.internal:5432-5440", []policy.PortRange{{5432, 5440}}},
		{"https://example.com:443,8443", []policy.PortRange{{443, 443}, {8443, 8443}}},
		{"https://example.com:*", nil},
		{"api.github.com", nil}, // any scheme, any port
		{"10.0.0.0/8", nil},
		{"tcp://127.0.0.1:5432", []policy.PortRange{{5432, 5432}}},
		{"*", nil},
	} {
		r, err := policy.NewNetRule(tc.rule, policy.Origin{})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Ports(); !slices.Equal(got, tc.ports) {
			t.Errorf("%s: ports %v, want %v", tc.rule, got, tc.ports)
		}
	}
}
