package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Load reads a module from path: a .wasm file, or a folder of Go source
// (a main package) that is built for GOOS=wasip1 GOARCH=wasm first.
func (e *Engine) Load(ctx context.Context, path string) (*Module, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &NotFoundError{Path: path, Err: err}
	}
	if fi.IsDir() {
		return e.buildGo(ctx, path)
	}
	b, err := os.ReadFile(path)
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

// buildGo builds the Go main package in dir for wasip1. Go's build cache is
// keyed by the digest of every source file, dependency and flag, so a
// rebuild of unchanged source links nothing new and takes tens of
// milliseconds; the output is written to the airlock cache and its bytes'
// digest names the module (see RATIONALE.md, "Why build tools with go build
// every time?").
func (e *Engine) buildGo(ctx context.Context, dir string) (*Module, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	goTool := e.cfg.GoTool
	if goTool == "" {
		goTool = "go"
	}
	if _, err := exec.LookPath(goTool); err != nil {
		return nil, &BuildError{Dir: dir, Err: fmt.Errorf("building a tool from source needs the Go toolchain on PATH: %w", err)}
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
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-o", tmp, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, &BuildError{Dir: dir, Err: fmt.Errorf("%s", msg)}
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
