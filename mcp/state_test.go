package mcp_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestServedToolCannotWriteAirlockState: `airlock mcp` serves the sample
// write tool with a policy whose writable mount is the folder that holds
// the policy itself, the audit log and the user's configuration folder.
// The agent asks the tool to rewrite each; every call fails, the files
// are as they were, and an ordinary write beside them works.
func TestServedToolCannotWriteAirlockState(t *testing.T) {
	t.Parallel()
	work := workDir(t)
	policyFile := filepath.Join(work, "policy.hcl")
	pol := fmt.Sprintf(`mount "/work" {
  host             = %q
  access           = "write"
  protect_defaults = false
}

approvals {
  audit = %q
}
`, work, filepath.Join(work, "audit.jsonl"))
	grants := filepath.Join(work, "cfg", "airlock", "grants.hcl")
	os.MkdirAll(filepath.Dir(grants), 0o755)
	before := map[string]string{policyFile: pol, grants: "# no grants\n"}
	for f, b := range before {
		if err := os.WriteFile(f, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tools, err := filepath.Abs("../tools")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(airlockBinary(t), "mcp", "--tools", tools, "--policy", policyFile, "--headless")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+compileCache(), "XDG_CONFIG_HOME="+filepath.Join(work, "cfg"), "AIRLOCK_MANAGED_POLICY=")
	cmd.Stderr = testWriter{t}
	client := sdk.NewClient(&sdk.Implementation{Name: "airlock-test", Version: "v0"}, nil)
	cs, err := client.Connect(t.Context(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for _, path := range []string{"/work/policy.hcl", "/work/cfg/airlock/grants.hcl", "/work/audit.jsonl", "/work/cfg/airlock/new.hcl"} {
		res := call(t, cs, "write", map[string]any{"path": path, "content": "forged\n"})
		if !res.IsError {
			t.Errorf("write %s: succeeded: %s", path, texts(res))
		}
	}
	for f, b := range before {
		if now, _ := os.ReadFile(f); string(now) != b {
			t.Errorf("%s changed: %q", f, now)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "cfg", "airlock", "new.hcl")); err == nil {
		t.Error("a file was made in the configuration folder")
	}
	if audit, _ := os.ReadFile(filepath.Join(work, "audit.jsonl")); !strings.Contains(string(audit), "airlock state: policy") || strings.Contains(string(audit), "forged") {
		t.Errorf("audit log: %s", audit)
	}
	if res := call(t, cs, "write", map[string]any{"path": "/work/mine.txt", "content": "ok\n"}); res.IsError {
		t.Errorf("ordinary write: %s", texts(res))
	}
}
