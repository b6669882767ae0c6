//go:build !linux

package runtime_test

import "testing"

// benchWarm: the warm server is Linux's only.
func benchWarm(b *testing.B, airlock, work, cache string, per map[string]float64, runs [][]string) {}
