package archtest

import (
	"os"
	"os/exec"
	"testing"
)

// TestCLIBuildsEverywhere: the command line builds for every system people
// run it on, though the sandbox itself needs Linux (README). A file that
// calls a Unix-only API without a build tag breaks the Windows build, as
// approvals' prompt guard once did with poll(2).
func TestCLIBuildsEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds are slow; skipped with -short")
	}
	for _, goos := range []string{"windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-o", os.DevNull, module+"cmd/airlock")
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=%s go build ./cmd/airlock: %v\n%s", goos, err, out)
			}
		})
	}
}
