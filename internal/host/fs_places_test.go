//go:build linux

package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// TestMountRefusesAMovedRoot: the managed ceiling places its rules for
// where a mount's host directory was when it was resolved (Mount.Real). A
// long-lived server (airlock mcp) resolves once and mounts for every call;
// a tool that meanwhile swaps a path component for a symbolic link (from a
// writable mount around it) must not get another directory under rules
// placed for the first one.
func TestMountRefusesAMovedRoot(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sub, secrets := filepath.Join(base, "sub"), filepath.Join(base, "secrets")
	for _, d := range []string{sub, secrets} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(secrets, "key.txt"), []byte("managed-secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := policy.Mount{Guest: "/s", Host: sub, Real: sub, Access: policy.Read}
	gate := NewGate(context.Background(), nil, nil)

	f, err := NewFS(m, gate, nil, nil)
	if err != nil {
		t.Fatalf("the resolved root: %v", err)
	}
	f.Close()

	// The swap: sub is now a symbolic link to the hidden folder.
	if err := os.Rename(sub, sub+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secrets, sub); err != nil {
		t.Fatal(err)
	}
	f, err = NewFS(m, gate, nil, nil)
	if err == nil {
		got, _ := readAll(t, f, "key.txt")
		f.Close()
		t.Fatalf("mounted %s through the swapped link; read %q", sub, got)
	}
	if !strings.Contains(err.Error(), "now leads to "+secrets) {
		t.Errorf("error %q does not say where the root leads now", err)
	}

	// Without a resolved place (a caller with no ceiling), Host is opened
	// as it is, as before.
	m.Real = ""
	if f, err = NewFS(m, gate, nil, nil); err != nil {
		t.Fatalf("unresolved mount: %v", err)
	}
	f.Close()
}
