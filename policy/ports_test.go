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
		names bool
	}{
		{"https://api.github.com", []policy.PortRange{{443, 443}}, true},
		{"http://example.com", []policy.PortRange{{80, 80}}, true},
		{"https://example.com:8443", []policy.PortRange{{8443, 8443}}, true},
		{"tcp://db.internal:5432-5440", []policy.PortRange{{5432, 5440}}, true},
		{"https://example.com:443,8443", []policy.PortRange{{443, 443}, {8443, 8443}}, true},
		{"https://example.com:*", nil, true},
		{"api.github.com", nil, true}, // any scheme, any port
		{"10.0.0.0/8", nil, false},
		{"tcp://127.0.0.1:5432", []policy.PortRange{{5432, 5432}}, false},
		{"*", nil, true},
	} {
		r, err := policy.NewNetRule(tc.rule, policy.Origin{})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Ports(); !slices.Equal(got, tc.ports) {
			t.Errorf("%s: ports %v, want %v", tc.rule, got, tc.ports)
		}
		if r.NamesHost() != tc.names {
			t.Errorf("%s: names a host = %v", tc.rule, r.NamesHost())
		}
	}
}
