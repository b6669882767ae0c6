package approvals_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wasmbuild"
)

// TestTerminalUnderTmux runs testdata/promptdemo in a real pseudo-terminal
// (tmux) and answers its huh prompt with keystrokes: two runs waiting on
// the same question get one prompt and both get the answer, and what
// another tool prints while the prompt is open is held back until the
// answer, then shown with its escape sequences neutralised.
func TestTerminalUnderTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin, err := wasmbuild.Binary("testdata/promptdemo", t.TempDir(), "promptdemo")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "tmux") // a server of its own; nothing left behind
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-s", "main", bin+` 2>/dev/null; echo "[exit $?]"; sleep 600`)
	defer exec.Command("tmux", "-S", sock, "kill-server").Run()
	waitFor := func(want string) string {
		deadline := time.Now().Add(60 * time.Second)
		for {
			s := tmux("capture-pane", "-p", "-t", "main")
			if strings.Contains(s, want) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q:\n%s", want, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	waitFor("> Deny")
	time.Sleep(2 * time.Second) // B has written by now
	s := tmux("capture-pane", "-p", "-t", "main")
	if strings.Contains(s, "FAKE") || !strings.Contains(s, "connect to api.example.com:443") || !strings.Contains(s, "Allow once") {
		t.Fatalf("while the prompt is open:\n%s", s)
	}
	tmux("send-keys", "-t", "main", "Down", "Enter")
	s = waitFor("[exit 0]")
	if n := strings.Count(s, "answered in"); n != 1 {
		t.Errorf("%d prompts answered, want 1 for the same question asked twice:\n%s", n, s)
	}
	for _, want := range []string{"A allowed=true source=user", "C allowed=true source=user", "FAKE^[[2J^[[H┃ Allow?"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "FAKE") < strings.Index(s, "airlock: allow once:") {
		t.Errorf("the held-back output came before the answer:\n%s", s)
	}
}
