package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/template"

	"github.com/airlockhq/airlock/manifest"
)

// airlockModule is the Go module of airlock, whose guest SDK
// (tools/sdk/airlocknet) and test helper (tooltest) a scaffolded tool uses.
const airlockModule = "github.com/airlockhq/airlock"

func initCmd(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("init", std.err)
	net := fs.Bool("net", false, "scaffold a tool that uses the network through airlock's guest SDK")
	dir := fs.String("dir", ".", "create the tool's folder in `DIR`")
	sdk := fs.String("sdk", "", "a local airlock source tree `DIR` for the SDK and tooltest (go.mod replace); needed while airlock is not a published module")
	desc := fs.String("description", "", "the tool's description in tool.hcl")
	const synopsis = "usage: airlock init [--net] [--dir DIR] [--sdk AIRLOCK_SRC] NAME\nCreates DIR/NAME with main.go, main_test.go (tooltest) and tool.hcl; then: airlock build DIR/NAME"
	name, _, err := parseInterspersed(fs, args, std, synopsis)
	if err != nil {
		return err
	}
	if name == "" {
		return missingArg(synopsis, "init")
	}
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fail(ExitUsage, "the tool name %q may use only letters, digits, \"-\", \"_\" and \".\"", name)
	}
	d := scaffold{Name: name, Net: *net, Description: *desc}
	if d.Description == "" {
		d.Description = "Count the lines of files"
		if d.Net {
			d.Description = "Check that URLs answer, with HTTP HEAD"
		}
	}
	target, err := filepath.Abs(filepath.Join(*dir, name))
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 {
		return fail(ExitUsage, "%s already exists and is not empty", target)
	}

	// The manifest must be one the manifest package accepts.
	var man bytes.Buffer
	if err := manifestTemplate.Execute(&man, d); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if _, diags := manifest.Parse(man.Bytes(), manifest.FileName); diags.HasErrors() {
		return fail(ExitUsage, "%v", diags)
	}
	files := map[string][]byte{manifest.FileName: man.Bytes()}
	for fname, t := range map[string]*template.Template{"main.go": mainTemplate, "main_test.go": testTemplate} {
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return fail(ExitUsage, "%v", err)
		}
		files[fname] = b.Bytes()
	}

	// Inside a Go module (a tools folder of a project) the tool is one
	// more package; elsewhere it gets a module of its own that requires
	// airlock for the SDK and tooltest.
	inModule := enclosingModule(filepath.Dir(target)) != ""
	if !inModule {
		var gomod bytes.Buffer
		fmt.Fprintf(&gomod, "module %s\n\ngo 1.22\n\nrequire %s %s\n", name, airlockModule, airlockVersion())
		if *sdk != "" {
			abs, err := filepath.Abs(*sdk)
			if err != nil {
				return fail(ExitUsage, "%v", err)
			}
			fmt.Fprintf(&gomod, "\nreplace %s => %s\n", airlockModule, abs)
			if sum, err := os.ReadFile(filepath.Join(abs, "go.sum")); err == nil {
				files["go.sum"] = sum
			}
		}
		files["go.mod"] = gomod.Bytes()
	}

	if err := os.MkdirAll(target, 0o755); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	for _, fname := range []string{"go.mod", "go.sum", manifest.FileName, "main.go", "main_test.go"} {
		if b, ok := files[fname]; ok {
			if err := os.WriteFile(filepath.Join(target, fname), b, 0o644); err != nil {
				return fail(ExitUsage, "%v", err)
			}
		}
	}
	if !inModule && (*sdk != "" || !strings.HasPrefix(airlockVersion(), "v0.0.0")) {
		tidy(ctx, target, std.err)
	}
	fmt.Fprintf(std.out, "created %s: main.go, main_test.go, %s", target, manifest.FileName)
	if !inModule {
		fmt.Fprint(std.out, ", go.mod")
	}
	fmt.Fprintf(std.out, "\nnext:\n  airlock build %s\n  airlock run %s -- …\n  (cd %s && go test)\n", target, target, target)
	if !inModule && *sdk == "" && strings.HasPrefix(airlockVersion(), "v0.0.0") {
		fmt.Fprintf(std.out, "note: this airlock is not a released version: add `replace %s => /path/to/airlock` to go.mod, or run init with --sdk /path/to/airlock\n", airlockModule)
	}
	return nil
}

// tidy completes go.mod and go.sum from the module cache (and the module
// proxy, when reachable); failures are reported, not fatal: the build
// says what is missing.
func tidy(ctx context.Context, dir string, stderr io.Writer) {
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy", "-e")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "airlock: go mod tidy in %s: %v\n%s", dir, err, out)
	}
}

// enclosingModule returns the go.mod above dir, or "".
func enclosingModule(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if p := filepath.Join(d, "go.mod"); exists(p) {
			return p
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// airlockVersion is the version of the airlock module this binary was
// built from, or v0.0.0 for a development build.
func airlockVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && strings.HasPrefix(bi.Main.Version, "v") {
		return bi.Main.Version
	}
	return "v0.0.0"
}

type scaffold struct {
	Name, Description string
	Net               bool
}

var manifestTemplate = template.Must(template.New("tool.hcl").Parse(`# How airlock, and agents through airlock mcp, see this tool (docs/manifest.md).
# airlock build compiles main.go to module.wasm and pins its digest here.
tool "{{.Name}}" {
  description  = "{{.Description}}"
  module       = "module.wasm"
  input        = "argv"
{{- if .Net}}
  argv         = ["{urls}"]
  output       = "text"
  input_schema = jsonencode({ type = "object", properties = { urls = { type = "array", items = { type = "string" }, description = "URLs to check" } }, required = ["urls"] })
  # What the tool asks for beyond a policy; a person grants it (on-request mode).
  requests {
    network = ["https://example.com"]
  }
{{- else}}
  argv         = ["{files}"]
  output       = "text"
  input_schema = jsonencode({ type = "object", properties = { files = { type = "array", items = { type = "string" }, description = "files to count, e.g. /work/README.md" } }, required = ["files"] })
{{- end}}
}
`))

var mainTemplate = template.Must(template.New("main.go").Parse(`// Command {{.Name}} is an airlock tool: {{.Description}}.
//
// It is a WASI preview 1 command: airlock build (or GOOS=wasip1 GOARCH=wasm
// go build) compiles it, and airlock run runs it in a sandbox. The same code
// builds natively, so its logic can be unit-tested without airlock.
package main

import (
{{- if .Net}}
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
{{- else}}
	"bufio"
	"fmt"
	"io"
	"os"
{{- end}}
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
{{if .Net}}
// run checks each URL with HEAD through airlock's network: the host
// resolves the name, checks it against the policy, and connects. A URL
// the policy does not allow fails with airlocknet.ErrDenied.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: {{.Name}} URL...")
		return 2
	}
	client := &http.Client{Transport: &airlocknet.Transport{}, Timeout: 30 * time.Second}
	code := 0
	for _, url := range args {
		resp, err := client.Head(url)
		if err != nil {
			fmt.Fprintf(stderr, "{{.Name}}: %v\n", err)
			code = 1
			continue
		}
		resp.Body.Close()
		fmt.Fprintf(stdout, "%s: %s\n", url, resp.Status)
	}
	return code
}
{{else}}
// run counts the lines of each file. Paths are guest paths: /work is the
// folder airlock mounts by default.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: {{.Name}} FILE...")
		return 2
	}
	code := 0
	for _, name := range args {
		n, err := countLines(name)
		if err != nil {
			fmt.Fprintf(stderr, "{{.Name}}: %v\n", err)
			code = 2
			continue
		}
		fmt.Fprintf(stdout, "%s: %d lines\n", name, n)
	}
	return code
}

func countLines(name string) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 16<<20)
	for s.Scan() {
		n++
	}
	return n, s.Err()
}
{{end -}}
`))

var testTemplate = template.Must(template.New("main_test.go").Parse(`package main

import (
{{- if .Net}}
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
{{- end}}
	"testing"

	"github.com/airlockhq/airlock/tooltest"
)

// These tests run the tool under the real airlock runtime: tooltest builds
// it for wasip1, gives it a throwaway workspace and a policy, and reports
// what it printed, what the policy refused, and the files after.
{{if .Net}}
func TestHeadThroughAirlock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	// Allowed by the policy: the host connects for the tool.
	res := tooltest.Run(t, ".", tooltest.Options{
		Policy: fmt.Sprintf("network {\n  allow = [%q]\n}\n", srv.URL),
		Args:   []string{srv.URL},
	})
	if res.ExitCode != 0 || res.Stdout != srv.URL+": 200 OK\n" {
		t.Fatalf("allowed: %+v", res)
	}

	// The default policy has no network: the request is refused, and the
	// refusal is a decision.
	res = tooltest.Run(t, ".", tooltest.Options{Args: []string{srv.URL}})
	if res.ExitCode != 1 || len(res.Denied()) == 0 || !strings.Contains(res.Stderr, "denied") {
		t.Fatalf("denied: %+v", res)
	}
}
{{else}}
func TestCountsLines(t *testing.T) {
	res := tooltest.Run(t, ".", tooltest.Options{
		Files: map[string]string{"a.txt": "one\ntwo\n", "src/b.txt": "three\n"},
		Args:  []string{"/work/a.txt", "/work/src/b.txt"},
	})
	if res.ExitCode != 0 || res.Stdout != "/work/a.txt: 2 lines\n/work/src/b.txt: 1 lines\n" {
		t.Fatalf("%+v", res)
	}
}

func TestHiddenFilesStayHidden(t *testing.T) {
	// The default policy hides .env: the tool cannot read it.
	res := tooltest.Run(t, ".", tooltest.Options{
		Files: map[string]string{".env": "TOKEN=x\n"},
		Args:  []string{"/work/.env"},
	})
	if res.ExitCode != 2 || len(res.Denied()) == 0 {
		t.Fatalf("%+v", res)
	}
}
{{end -}}
`))
