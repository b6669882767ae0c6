package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// ExampleEngine_Run runs the sample grep tool on a folder mounted read-only
// at /work, under a policy that hides one file in it: the tool finds the
// line in the file it may read; the hidden file is not there for it, and
// the run's decisions say which rule hid it.
func ExampleEngine_Run() {
	ctx := context.Background()
	project, err := os.MkdirTemp("", "airlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(project)
	for name, text := range map[string]string{
		"notes.txt": "alpha\nTODO: write the example\n",
		"keys.txt":  "TOKEN=TODO-rotate-me\n",
	} {
		if err := os.WriteFile(filepath.Join(project, name), []byte(text), 0o600); err != nil {
			log.Fatal(err)
		}
	}

	pol, diags := policy.Parse([]byte(`
mount "/work" {
  host   = "`+project+`"
  access = "read"
  hide   = ["keys.txt"]
}
`), "example.hcl", policy.LayerProject, ".")
	if diags.HasErrors() {
		log.Fatal(diags)
	}

	// One Engine serves any number of runs; "-" keeps compiled code in
	// memory only (a program would keep the default, on-disk cache).
	eng, err := runtime.New(ctx, runtime.Config{CacheDir: "-"})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Load(ctx, "../tools/grep/grep.wasm")
	if err != nil {
		log.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	res, err := eng.Run(ctx, runtime.Spec{
		Module: mod,
		Args:   []string{"-rn", "TODO", "/work", "/work/keys.txt"},
		Stdout: &stdout,
		Stderr: &stderr,
		Policy: pol,
	})
	if err != nil {
		log.Fatal(err) // the run could not start
	}
	fmt.Print(stdout.String(), stderr.String())
	fmt.Println(res.Reason, res.ExitCode)
	for _, d := range res.Decisions {
		fmt.Printf("denied %s %s %s: %s (%s)\n", d.Kind, d.Op, d.Target, d.Rule, d.Origin)
	}
	// Output:
	// /work/notes.txt:2:TODO: write the example
	// grep: stat /work/keys.txt: No such file or directory
	// exited 2
	// denied fs.read stat /work/keys.txt: hide "keys.txt" (example.hcl:5:13)
}
