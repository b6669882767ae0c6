package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
)

// Load reads a module from path: a .wasm file, or a folder of Go source
// (a main package) that is built for GOOS=wasip1 GOARCH=wasm first,
// offline (see LoadWith).
func (e *Engine) Load(ctx context.Context, path string) (*Module, error) {
	return e.LoadWith(ctx, path, LoadOptions{})
}

// LoadOptions adjusts how a Go tool folder is built.
type LoadOptions struct {
	// Untrusted says a tool could have written the folder (it lies in a
	// writable mount; see BuildExposures): the build may read Go files
	// only from the module and the module cache, so that a go.mod replace
	// directive pointing at another folder, or a symlink a tool planted,
	// cannot compile host files from outside every mount into the tool. A
	// vendored module reads no replaced folder and builds as it is.
	Untrusted bool
	// Hidden, for an Untrusted build, says whether a host path is a file
	// the tool may not read (HiddenFrom), and by which rule ("" if not).
	// No source file of the build, and nothing it embeds (//go:embed),
	// may be one: the go command runs with the person's rights, and
	// would put a .env beside the sources into the module, where the
	// tool reads it.
	Hidden func(path string) string
}

// LoadWith is Load with options.
func (e *Engine) LoadWith(ctx context.Context, path string, o LoadOptions) (*Module, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &NotFoundError{Path: path, Err: err}
	}
	if fi.IsDir() {
		return e.buildGo(ctx, path, o)
	}
	if m := e.knownModule(path, fi); m != nil {
		return m, nil
	}
	b, err := policy.ReadRegular(path, MaxModuleSize, "a module may have")
	if err != nil {
		return nil, &NotFoundError{Path: path, Err: err}
	}
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) {
		return nil, &ModuleError{Name: path, Err: fmt.Errorf("not a WebAssembly binary (no \\0asm header)")}
	}
	m := NewModule(strings.TrimSuffix(filepath.Base(path), ".wasm"), b)
	m.Path = path
	return m, nil
}

// MaxModuleSize bounds a module file airlock reads (1 GiB; the largest
// modules people run are tens of megabytes). A tool could have put a named
// pipe, a link to a device or a huge file where a module was: read whole,
// it would hang the run (or an MCP server loading its tools) or grow the
// process without end, so a module is read as policy.ReadRegular reads.
const MaxModuleSize = 1 << 30

// buildGo builds the Go main package in dir for wasip1, offline: the go
// command gets a minimal environment of its own (wasmbuild.Toolchain.Env)
// and can fetch nothing, so a go.mod a tool rewrote cannot make the build
// carry data out (RATIONALE.md, "Why is building a tool folder offline?").
// A module that is not on this machine is one *MissingModuleError naming
// the command the person runs themselves.
//
// Go's build cache is keyed by the digest of every source file, dependency
// and flag, so a rebuild of unchanged source links nothing new and takes
// tens of milliseconds; the output is written to the airlock cache and its
// bytes' digest names the module (see RATIONALE.md, "Why build Go tools with
// `go build` every time?").
func (e *Engine) buildGo(ctx context.Context, dir string, o LoadOptions) (*Module, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	tc, err := e.goToolchain(ctx)
	if err != nil {
		return nil, &BuildError{Dir: dir, Err: err}
	}
	root := wasmbuild.ModuleRoot(abs)
	mode := wasmbuild.ModMode(root)
	if o.Untrusted && root != "" {
		if err := checkSources(ctx, tc, abs, root, mode, e.hiddenWithState(o.Hidden)); err != nil {
			return nil, &BuildError{Dir: dir, Err: err}
		}
	}
	outDir := e.cacheDir
	if outDir == "" {
		outDir = os.TempDir()
	}
	key := sha256.Sum256([]byte(abs))
	out := filepath.Join(outDir, "build", hex.EncodeToString(key[:8])+".wasm")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("creating build cache: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	start := time.Now()
	cmd := exec.CommandContext(ctx, tc.Go, wasmbuild.Args(tmp)...)
	cmd.Dir = abs
	cmd.Env = tc.Env(mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return nil, buildFailure(dir, stderr.String(), err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("storing built module: %w", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	m := NewModule(filepath.Base(abs), b)
	m.Path = dir
	m.Built = true
	m.BuildTime = time.Since(start)
	return m, nil
}

// goToolchain returns the host's Go toolchain, found once per engine (a
// failure is not remembered: Go may be installed later).
func (e *Engine) goToolchain(ctx context.Context) (wasmbuild.Toolchain, error) {
	e.goTC.mu.Lock()
	defer e.goTC.mu.Unlock()
	if e.goTC.tc != nil {
		return *e.goTC.tc, nil
	}
	tc, err := wasmbuild.FindToolchain(ctx, e.cfg.GoTool)
	if err != nil {
		return tc, err
	}
	e.goTC.tc = &tc
	return tc, nil
}

// goToolchainCache holds an engine's Go toolchain once found.
type goToolchainCache struct {
	mu sync.Mutex
	tc *wasmbuild.Toolchain
}

// checkSources refuses to build a folder a tool could have written (see
// LoadOptions.Untrusted) when the build would read Go files from outside
// its module and the module cache: a go.mod replace directive pointing at
// another folder, or a package folder or source file that is a symlink
// leading out. Each is judged by its real location. It asks the go command
// which packages and files the build reads (`go list -deps`), with the
// same offline environment as the build; when that fails, the build will
// fail the same way and say why, so nothing is refused here.
func checkSources(ctx context.Context, tc wasmbuild.Toolchain, dir, root, mode string, hidden func(string) string) error {
	cmd := exec.CommandContext(ctx, tc.Go, "list", "-deps", "-json=ImportPath,Dir,Standard,GoFiles,SFiles,EmbedFiles,Module", ".")
	cmd.Dir = dir
	cmd.Env = tc.Env(mode)
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	realCache := realPath(tc.GOMODCACHE)
	inside := func(p string) (string, bool) {
		real, err := filepath.EvalSymlinks(p)
		return real, err == nil && (within(realRoot, real) || within(realCache, real))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var pkg struct {
			ImportPath, Dir             string
			Standard                    bool
			GoFiles, SFiles, EmbedFiles []string
			Module                      *struct {
				Path    string
				Replace *struct{ Path, Version string }
			}
		}
		if err := dec.Decode(&pkg); err != nil {
			return fmt.Errorf("reading `go list`: %w", err)
		}
		if pkg.Standard {
			continue
		}
		gomod := filepath.Join(root, "go.mod")
		if m := pkg.Module; m != nil && m.Replace != nil && m.Replace.Version == "" {
			if _, ok := inside(pkg.Dir); !ok {
				return fmt.Errorf("%s replaces %q with the folder %q, outside the module; a tool could have written this go.mod "+
					"(it lies in a writable mount), so airlock builds nothing from outside the module: vendor the module yourself "+
					"(cd %s && go mod vendor) or move the tool folder out of the mount",
					gomod, m.Path, m.Replace.Path, shellQuote(root))
			}
		}
		paths := []string{pkg.Dir}
		for _, fs := range [][]string{pkg.GoFiles, pkg.SFiles, pkg.EmbedFiles} {
			for _, f := range fs {
				paths = append(paths, filepath.Join(pkg.Dir, f))
			}
		}
		for _, p := range paths {
			if hidden != nil {
				if rule := hidden(p); rule != "" {
					return fmt.Errorf("%s (package %s) is hidden from the tool (%s), and building would put it into the module; "+
						"a tool could have written the sources (they lie in a writable mount): remove the //go:embed or the file, "+
						"or move the tool folder out of the mount", p, pkg.ImportPath, rule)
				}
			}
			if real, ok := inside(p); !ok {
				return fmt.Errorf("%s (package %s) leads to %s, outside the module and the module cache; a tool could have placed "+
					"the link (the folder lies in a writable mount), so airlock builds nothing from outside the module: "+
					"put a copy in its place, or move the tool folder out of the mount", p, pkg.ImportPath, real)
			}
		}
	}
	return nil
}

// hiddenWithState is hidden extended to airlock's secret state (the
// compile cache and its seal key, grants): no tool may read it, so no
// build of a folder a tool could have written may compile or embed it.
// The go command runs with the person's rights and does not know the
// policy filesystem's rules.
func (e *Engine) hiddenWithState(hidden func(string) string) func(string) string {
	var secret []host.StatePath
	for _, sp := range e.statePaths() {
		if sp.Secret {
			secret = append(secret, sp)
		}
	}
	return func(path string) string {
		real := realPath(path)
		for _, sp := range secret {
			if within(realPath(sp.Path), real) {
				return host.StateRulePrefix + sp.What
			}
		}
		if hidden != nil {
			return hidden(path)
		}
		return ""
	}
}

// within reports whether path is root or lies below it (both real,
// absolute paths).
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// buildFailure turns the go command's complaint into an error: one line
// with the command to run when a module or toolchain is missing (the
// build is offline), else the compiler's words.
func buildFailure(dir, stderr string, err error) error {
	// What the go command says when a build needs something from the
	// network (compiled here, on a failure, not at every start).
	var (
		reDownloading = regexp.MustCompile(`(?m)^go: downloading (\S+) (\S+)`)
		reProviding   = regexp.MustCompile(`providing package ([^\s:;]+)`)
		reNoProvides  = regexp.MustCompile(`no required module provides package ([^\s:;]+)`)
		reToolchain   = regexp.MustCompile(`requires go >= (\S+) \(running go (\S+); GOTOOLCHAIN=local\)`)
	)
	if m := reToolchain.FindStringSubmatch(stderr); m != nil {
		return &BuildError{Dir: dir, Err: fmt.Errorf("its go.mod requires Go %s and this machine has Go %s; "+
			"airlock never downloads a Go toolchain during a build: install Go %s yourself", m[1], m[2], m[1])}
	}
	missing := MissingModuleError{Dir: dir}
	switch {
	case strings.Contains(stderr, "inconsistent vendoring"), strings.Contains(stderr, "vendor/modules.txt"):
		missing.Command = "go mod vendor"
	case strings.Contains(stderr, "missing go.sum entry"), strings.Contains(stderr, "updates to go.mod needed"),
		strings.Contains(stderr, "import lookup disabled"), strings.Contains(stderr, "no required module provides"),
		strings.Contains(stderr, "cannot find module providing"):
		missing.Command = "go mod tidy"
	case strings.Contains(stderr, "GOPROXY=off"), reDownloading.MatchString(stderr):
		missing.Command = "go mod download"
	}
	if missing.Command != "" {
		if m := reDownloading.FindStringSubmatch(stderr); m != nil {
			missing.Module = m[1] + "@" + m[2]
		} else if m := reNoProvides.FindStringSubmatch(stderr); m != nil {
			missing.Module = m[1]
		} else if m := reProviding.FindStringSubmatch(stderr); m != nil {
			missing.Module = m[1]
		}
		return &missing
	}
	return &BuildError{Dir: dir, Err: errors.New(oneLine(stderr, err))}
}

// oneLine is the go command's stderr trimmed, or err when it said nothing.
func oneLine(stderr string, err error) string {
	if s := strings.TrimSpace(stderr); s != "" {
		return s
	}
	return err.Error()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// MissingModuleError says a Go tool folder needs a module (or a go.mod or
// go.sum change) that is not on this machine. airlock builds offline, so
// the person fetches it, with Command, run in Dir.
type MissingModuleError struct {
	Dir     string // the tool folder
	Module  string // the module (or package) the go command named; may be empty
	Command string // "go mod download", "go mod tidy" or "go mod vendor"
}

func (e *MissingModuleError) Error() string {
	what := "modules that are not on this machine"
	if e.Module != "" {
		what = fmt.Sprintf("%q, which is not on this machine", e.Module)
	}
	return fmt.Sprintf("building %s: it needs %s, and airlock builds tools without network; "+
		"check its go.mod, then run `cd %s && %s` yourself", e.Dir, what, shellQuote(e.Dir), e.Command)
}

// NotFoundError says a module path does not exist or cannot be read.
type NotFoundError struct {
	Path string
	Err  error
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("loading %s: %v", e.Path, e.Err) }
func (e *NotFoundError) Unwrap() error { return e.Err }

// BuildError says a Go tool could not be built; Err holds the compiler's words.
type BuildError struct {
	Dir string
	Err error
}

func (e *BuildError) Error() string { return fmt.Sprintf("building %s for wasip1: %v", e.Dir, e.Err) }
func (e *BuildError) Unwrap() error { return e.Err }
