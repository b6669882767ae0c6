//go:build wasmtime

package main

// Differential tests of the two engines through the real binary (built
// with -tags wasmtime, buildtags_wasmtime_test.go): the same command on
// wazero and on wasmtime, each over a fresh copy of the same project, must
// give the same exit status, output, decisions and tree after, and the
// host-side checks of each attack must hold on both.
//
//	go test -tags wasmtime -run Engines ./cmd/airlock/

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlockhq/airlock/runtime"
)

// engineOutcome is what one engine's run did, with the fixture's paths
// replaced by PROJ and ROOT so that runs over different copies compare.
type engineOutcome struct {
	code           int
	stdout, stderr string
	decisions      string
	tree           string
}

var tempName = regexp.MustCompile(`\.([^/.]+)\.[0-9]+\.tmp`)

// onEngines runs `airlock run --engine E --json=… args…` on every engine,
// each in a fresh project (main_test.go's project: .git, .env, main.go and
// a sentinel outside), and returns each engine's outcome. check runs on
// the host after each run, with the project's folder.
func onEngines(t *testing.T, stdin string, check func(t *testing.T, engine, dir string, r cliResult), args ...string) map[string]engineOutcome {
	t.Helper()
	out := map[string]engineOutcome{}
	for _, engine := range runtime.Engines() {
		dir, sentinel := project(t)
		root := filepath.Dir(dir)
		report := filepath.Join(t.TempDir(), "report.json")
		full := append([]string{"run", "--engine", engine, "--headless", "--json=" + report}, args...)
		r := runCLI(t, dir, stdin, nil, full...)
		if b, err := os.ReadFile(sentinel); err != nil || string(b) != "sentinel: outside the mount\n" {
			t.Errorf("%s: the sentinel outside the mount changed: %q %v", engine, b, err)
		}
		if check != nil {
			check(t, engine, dir, r)
		}
		// Paths of the fixture, and the random part of a tool's temporary
		// file names, differ between runs.
		norm := func(s string) string {
			return tempName.ReplaceAllString(strings.NewReplacer(dir, "PROJ", root, "ROOT").Replace(s), ".$1.N.tmp")
		}
		out[engine] = engineOutcome{code: r.code, stdout: norm(r.stdout), stderr: norm(r.stderr),
			decisions: norm(reportDecisions(t, report)), tree: norm(treeOf(t, dir))}
	}
	return out
}

// sameOnEngines fails t unless every engine's outcome is wazero's.
func sameOnEngines(t *testing.T, outs map[string]engineOutcome) engineOutcome {
	t.Helper()
	base := outs[runtime.EngineWazero]
	for engine, o := range outs {
		if o != base {
			t.Errorf("%s differs from wazero:\nwazero: %+v\n%s: %+v", engine, base, engine, o)
		}
	}
	return base
}

// reportDecisions lists the decisions of a --json report, one a line,
// without their times.
func reportDecisions(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "no report: " + err.Error()
	}
	var rep struct {
		Decisions []map[string]any `json:"decisions"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	var lines []string
	for _, d := range rep.Decisions {
		delete(d, "time")
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, d[k]))
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	return strings.Join(lines, "\n")
}

// treeOf lists every file and folder under dir with file contents and
// symbolic link targets (but the audit log's).
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			lines = append(lines, rel+" -> "+to)
		case d.IsDir():
			lines = append(lines, rel+"/")
		case rel == filepath.Join(".airlock", "audit.jsonl"):
			lines = append(lines, rel) // airlock's own, with times and run ids
		default:
			b, _ := os.ReadFile(p)
			lines = append(lines, rel+": "+string(b))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestEnginesAgreeOnSampleTools runs each sample tool (tools/*, the
// committed modules) on both engines on the built-in default policy.
func TestEnginesAgreeOnSampleTools(t *testing.T) {
	var accepts atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "fixed")
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		fmt.Fprintf(w, "hello from %s %s\n", r.Method, r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepts.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tool := func(name string) string { return filepath.Join(repoRoot, "tools", name) }
	patch := "<<<<<<< SEARCH\n// TODO: write main\n=======\n// done\n>>>>>>> REPLACE\n"
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"ls", "", []string{tool("ls"), "--", "-R", "/work"}},
		{"ls -l", "", []string{tool("ls"), "--", "-l", "/work"}},
		{"cat", "", []string{tool("cat"), "--", "-n", "/work/main.go"}},
		{"cat a hidden file", "", []string{tool("cat"), "--", "/work/.env"}},
		{"cat outside", "", []string{tool("cat"), "--", "/work/../outside.txt"}},
		{"grep", "", []string{tool("grep"), "--", "-rn", "TODO", "/work"}},
		{"grep a hidden file", "", []string{tool("grep"), "--", "API_KEY", "/work/.env"}},
		{"wc", "", []string{tool("wc"), "--", "/work/main.go"}},
		{"write", "new text\n", []string{tool("write"), "--", "--mkdir", "/work/new/dir/f.txt"}},
		{"write a protected file", "pwned\n", []string{tool("write"), "--", "/work/.git/config"}},
		{"write a hook", "#!/bin/sh\n", []string{tool("write"), "--", "--mkdir", "/work/.git/hooks/pre-commit"}},
		{"write over a hidden file", "x\n", []string{tool("write"), "--", "/work/.env"}},
		{"patch", patch, []string{tool("patch"), "--", "/work/main.go"}},
		{"patch a protected file", "<<<<<<< SEARCH\n[core]\n=======\n[evil]\n>>>>>>> REPLACE\n", []string{tool("patch"), "--", "/work/.git/config"}},
		{"fetch allowed", "", []string{"--allow-net", srv.URL, tool("fetch"), "--", srv.URL + "/hello"}},
		{"fetch denied", "", []string{tool("fetch"), "--", srv.URL + "/hello"}},
		{"urlcheck allowed", "", []string{"--allow-net", srv.URL, tool("urlcheck"), "--", srv.URL + "/", srv.URL + "/missing"}},
		{"urlcheck denied", "", []string{tool("urlcheck"), "--", srv.URL + "/"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := accepts.Load()
			outs := onEngines(t, c.stdin, func(t *testing.T, engine, dir string, r cliResult) {
				// Host side: the protected and hidden files are as they were,
				// and the secret went nowhere.
				if b, _ := os.ReadFile(filepath.Join(dir, ".git/config")); string(b) != "[core]\n\trepositoryformatversion = 0\n" {
					t.Errorf("%s: .git/config changed: %q", engine, b)
				}
				if b, _ := os.ReadFile(filepath.Join(dir, ".env")); string(b) != "API_KEY=do-not-leak\n" {
					t.Errorf("%s: .env changed: %q", engine, b)
				}
				if strings.Contains(r.stdout+r.stderr, "do-not-leak") {
					t.Errorf("%s: the secret reached the output", engine)
				}
			}, c.args...)
			got := sameOnEngines(t, outs)
			if strings.Contains(c.name, "denied") && accepts.Load() != before {
				t.Errorf("the server accepted %d connections from denied runs", accepts.Load()-before)
			}
			if strings.Contains(c.name, "allowed") && got.code > 1 {
				t.Errorf("allowed fetch failed: %+v", got)
			}
		})
	}
}

// TestEnginesAgreeOnAttacks: a hostile guest tries every route to the
// protected and hidden files of the built-in default policy, and out of
// the mount, on both engines. Each engine refuses each the same way
// (the same errno to the guest, the same decision record), and from the
// host side nothing protected changed and no secret got out.
func TestEnginesAgreeOnAttacks(t *testing.T) {
	guest := fsguest(t) // state_test.go
	attacks := []string{
		// hidden: read by every route
		"read:/work/.env", "stat:/work/.env", "readdir:/work",
		"link:/work/.env:/work/envlink", "read:/work/envlink",
		"symlink:.env:/work/envsym", "read:/work/envsym",
		"rename:/work/.env:/work/plain.txt", "read:/work/plain.txt",
		// protected: write by every route
		"write:/work/.git/config:pwned", "append:/work/.git/HEAD:pwned", "truncate:/work/.git/config:0",
		"openwrite:/work/.git/config", "chtimes:/work/.git/config", "fchtimes:/work/.git/config",
		"remove:/work/.git/HEAD", "rename:/work/.git/config:/work/stolen",
		"rename:/work/main.go:/work/.git/config", "link:/work/main.go:/work/.git/hooks-link",
		"mkdir:/work/.git/hooks", "write:/work/.git/hooks/pre-commit:evil",
		"symlink:/work/main.go:/work/.git/sym", "rename:/work/.git:/work/git-moved",
		"write:/work/.bashrc:evil", "create-excl:/work/.airlock",
		// leaving the mount
		"read:/work/../outside.txt", "symlink:/etc/passwd:/work/etc", "symlink:../outside.txt:/work/out",
		"write:/work/../outside.txt:pwned",
		// what is allowed still works
		"write:/work/ok.txt:fine", "read:/work/ok.txt", "rename:/work/ok.txt:/work/ok2.txt", "readdir:/work",
	}
	outs := onEngines(t, "", func(t *testing.T, engine, dir string, r cliResult) {
		for name, want := range map[string]string{
			".git/config": "[core]\n\trepositoryformatversion = 0\n",
			".git/HEAD":   "ref: refs/heads/main\n",
			".env":        "API_KEY=do-not-leak\n",
			"main.go":     "package main\n\n// TODO: write main\nfunc main() {}\n",
		} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
				t.Errorf("%s: %s is %q (%v), want it unchanged", engine, name, b, err)
			}
		}
		for _, name := range []string{".git/hooks", ".git/hooks-link", ".git/sym", "git-moved", "stolen", "envlink", "plain.txt", ".bashrc"} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				t.Errorf("%s: %s was made", engine, name)
			}
		}
		if strings.Contains(r.stdout+r.stderr, "do-not-leak") {
			t.Errorf("%s: the secret reached the output", engine)
		}
	}, append([]string{guest, "--"}, attacks...)...)
	got := sameOnEngines(t, outs)
	if !strings.Contains(got.stdout, "write err") || !strings.Contains(got.stdout, "read ok \"fine\"") {
		t.Errorf("the guest's lines:\n%s", got.stdout)
	}
}
