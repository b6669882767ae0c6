package tooltest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/tooltest"
)

// Exec runs a tool once without a *testing.T: here the sample wc tool,
// built from source, over a workspace of one file.
func ExampleExec() {
	res, err := tooltest.Exec(context.Background(), "../tools/wc", tooltest.Options{
		Files: map[string]string{"notes.txt": "one two\nthree\n"},
		Args:  []string{"-lw", "/work/notes.txt"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(res.Workspace)
	fmt.Println(strings.Fields(res.Stdout)) // lines, words, name
	fmt.Println("exit", res.ExitCode)
	// Output:
	// [2 3 /work/notes.txt]
	// exit 0
}

// A policy with a read-only mount: the write tool is refused, the refusal
// is a decision naming the rule, and the workspace is unchanged.
func ExampleExec_policy() {
	res, err := tooltest.Exec(context.Background(), "../tools/write", tooltest.Options{
		Files: map[string]string{"a.txt": "old\n"},
		Policy: `
mount "/work" {
  host   = "."
  access = "read"
}
`,
		Args:  []string{"/work/a.txt"},
		Stdin: "new\n",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(res.Workspace)
	fmt.Println("exit", res.ExitCode)
	for _, d := range res.Denied() {
		fmt.Println("denied:", d.Kind, d.Rule)
	}
	fmt.Printf("a.txt: %q\n", res.Files["a.txt"])
	// Output:
	// exit 2
	// denied: fs.write mount "/work" access = "read"
	// a.txt: "old\n"
}

func TestRunWritesFilesAndReportsThem(t *testing.T) {
	res := tooltest.Run(t, "../tools/write", tooltest.Options{
		Args:  []string{"--mkdir", "/work/out/new.txt"},
		Stdin: "hello\n",
	})
	if res.ExitCode != 0 || res.Files["out/new.txt"] != "hello\n" {
		t.Fatalf("%+v", res)
	}
	// The default policy hides .env: the tool cannot read it, and the
	// refusal is reported.
	res = tooltest.Run(t, "../tools/cat", tooltest.Options{
		Files: map[string]string{".env": "SECRET=1\n"},
		Args:  []string{"/work/.env"},
	})
	if res.ExitCode == 0 || len(res.Denied()) == 0 || res.Stdout != "" {
		t.Fatalf("reading .env: %+v", res)
	}
}
