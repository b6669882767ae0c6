// Command prebuild builds the sample tools' WebAssembly modules that are
// committed beside their source (tools/NAME/NAME.wasm) and pins each one's
// digest in its tool.hcl, so that `airlock mcp --tools ./tools` and
// `airlock run tools/NAME` need no Go toolchain. It also writes the Go
// version it built with to tools/GOVERSION: a Go build with -trimpath and
// -buildvcs=false is reproducible for the same Go version and source, and
// the test beside this file rebuilds the modules and compares digests.
//
// Run it from the repository root (task tools does):
//
//	go run ./tools/internal/prebuild            # build every tool and pin
//	go run ./tools/internal/prebuild -check     # rebuild in a temporary folder and compare
//
// It imports nothing of airlock: the sample tools stay apart from the host.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	check := flag.Bool("check", false, "rebuild into a temporary folder and compare with the pinned digests; change nothing")
	root := flag.String("tools", "tools", "the tools folder")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	tools, err := prebuilt(root)
	if err != nil {
		return err
	}
	goVersion, err := goEnv("GOVERSION")
	if err != nil {
		return err
	}
	tmp := ""
	if check {
		if tmp, err = os.MkdirTemp("", "prebuild"); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
	}
	var stale []string
	for _, t := range tools {
		out := t.module
		if check {
			out = filepath.Join(tmp, filepath.Base(t.module))
		}
		digest, size, err := build(t.dir, out)
		if err != nil {
			return err
		}
		switch {
		case check && digest != t.pinned:
			stale = append(stale, fmt.Sprintf("%s: source builds %s, %s pins %s", t.name, digest, t.manifest, t.pinned))
		case check:
			fmt.Printf("%-6s %s ok\n", t.name, digest)
		default:
			if err := pin(t.manifest, digest); err != nil {
				return err
			}
			fmt.Printf("%-6s %s %5.1f MB %s\n", t.name, digest, float64(size)/1e6, t.module)
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("stale prebuilt modules (run task tools):\n  %s", strings.Join(stale, "\n  "))
	}
	if !check {
		return os.WriteFile(filepath.Join(root, "GOVERSION"), []byte(goVersion+"\n"), 0o644)
	}
	return nil
}

// tool is one sample tool with a prebuilt module.
type tool struct {
	name     string // its folder's name
	dir      string // its Go source folder
	manifest string // dir/tool.hcl
	module   string // the committed module, dir/NAME.wasm
	pinned   string // the digest tool.hcl pins
}

var (
	moduleAttr = regexp.MustCompile(`(?m)^\s*module\s*=\s*"([^"]+\.wasm)"`)
	digestAttr = regexp.MustCompile(`(?m)^(\s*digest\s*=\s*)"(sha256:[0-9a-f]{64})"`)
)

// prebuilt lists the tools under root whose folder holds Go source and a
// tool.hcl naming a .wasm module.
func prebuilt(root string) ([]tool, error) {
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var tools []tool
	for _, d := range dirs {
		dir := filepath.Join(root, d.Name())
		src, err := os.ReadFile(filepath.Join(dir, "tool.hcl"))
		if !d.IsDir() || err != nil {
			continue
		}
		goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		m := moduleAttr.FindSubmatch(src)
		if len(goFiles) == 0 || m == nil {
			continue // not Go (urlcheck is C), or built from source at load
		}
		t := tool{name: d.Name(), dir: dir, manifest: filepath.Join(dir, "tool.hcl"), module: filepath.Join(dir, string(m[1]))}
		if p := digestAttr.FindSubmatch(src); p != nil {
			t.pinned = string(p[2])
		}
		tools = append(tools, t)
	}
	if len(tools) == 0 {
		return nil, fmt.Errorf("no prebuilt tools under %s", root)
	}
	sort.Slice(tools, func(i, j int) bool { return tools[i].name < tools[j].name })
	return tools, nil
}

// build builds the Go tool in dir for wasip1 into out, reproducibly: no
// file paths (-trimpath), no VCS stamp (-buildvcs=false), no inherited
// GOFLAGS or GOWASM. It returns the module's digest and size.
func build(dir, out string) (digest string, size int, err error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", 0, err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", abs, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOWASM=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("building %s: %v: %s", dir, err, stderr.String())
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), len(b), nil
}

// pin writes digest into the manifest's digest attribute (which must be
// there), changing nothing else.
func pin(manifest, digest string) error {
	src, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	if !digestAttr.Match(src) {
		return errors.New(manifest + ` has no digest = "sha256:…" line to update`)
	}
	out := digestAttr.ReplaceAll(src, []byte(`${1}"`+digest+`"`))
	return os.WriteFile(manifest, out, 0o644)
}

func goEnv(key string) (string, error) {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}
