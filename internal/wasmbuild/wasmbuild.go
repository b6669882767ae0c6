// Package wasmbuild builds Go main packages for GOOS=wasip1 GOARCH=wasm,
// offline. The runtime builds tool folders with it (runtime.Engine.Load),
// and test binaries build their guests with it from TestMain; Go's build
// cache makes rebuilds of unchanged sources take milliseconds.
//
// A build is not a channel out of the machine: the go command runs with a
// minimal environment of its own (Toolchain.Env) in which it cannot fetch
// modules or toolchains, stamp version-control data (which runs git), run
// cgo, or read the host's GOFLAGS, proxy settings or `go env -w` file. So a
// tool folder's go.mod that a tool rewrote cannot make the build ask a
// server for anything (RATIONALE.md, "Why is building a tool folder
// offline?").
package wasmbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Toolchain is the host's go command and the folders it works in, as the
// host configured them (its environment and its `go env -w` file).
type Toolchain struct {
	Go         string // the go command, an absolute path
	GOROOT     string
	GOCACHE    string
	GOMODCACHE string
	GOPATH     string
}

// FindToolchain finds goTool ("go" if empty) on PATH and asks it where its
// root and caches are. The question runs with GOTOOLCHAIN=local and no
// GOFLAGS, in the go command's own folder, so that it cannot switch
// toolchains or act on a go.mod; it reads the host's settings, which is
// the point: the build then gets them as explicit values and reads no
// settings file at all.
func FindToolchain(ctx context.Context, goTool string) (Toolchain, error) {
	path, err := LookGo(goTool)
	if err != nil {
		return Toolchain{}, err
	}
	cmd := exec.CommandContext(ctx, path, "env", "-json", "GOROOT", "GOCACHE", "GOMODCACHE", "GOPATH")
	cmd.Dir = filepath.Dir(path)
	env := []string{"GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off", "GOPROXY=off"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "GOTOOLCHAIN", "GOFLAGS", "GOWORK", "GOPROXY":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Toolchain{}, fmt.Errorf("asking %s where its caches are: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var v map[string]string
	if err := json.Unmarshal(out, &v); err != nil {
		return Toolchain{}, fmt.Errorf("reading `%s env -json`: %w", path, err)
	}
	tc := Toolchain{Go: path, GOROOT: v["GOROOT"], GOCACHE: v["GOCACHE"], GOMODCACHE: v["GOMODCACHE"], GOPATH: v["GOPATH"]}
	if tc.GOROOT == "" || tc.GOCACHE == "" || tc.GOMODCACHE == "" {
		return Toolchain{}, fmt.Errorf("%s did not say where its root and caches are (GOROOT %q, GOCACHE %q, GOMODCACHE %q)", path, tc.GOROOT, tc.GOCACHE, tc.GOMODCACHE)
	}
	if tc.GOCACHE == "off" {
		return Toolchain{}, errors.New("the Go build cache is off (GOCACHE=off); building a tool needs it")
	}
	return tc, nil
}

// LookGo returns the absolute path at which PATH finds goTool ("go" if
// empty), without running it.
func LookGo(goTool string) (string, error) {
	if goTool == "" {
		goTool = "go"
	}
	path, err := exec.LookPath(goTool)
	if err != nil {
		return "", fmt.Errorf("building a tool from source needs the Go toolchain on PATH: %w", err)
	}
	return filepath.Abs(path)
}

// hostPass are the host variables an offline build keeps: where programs
// and the home and temporary folders are (and their Windows names). Every
// other variable is dropped, GOFLAGS, GOPRIVATE, GOINSECURE, GONOSUMDB,
// GOAUTH, proxy variables and GODEBUG included.
var hostPass = []string{"PATH", "HOME", "TMPDIR", "SystemRoot", "TEMP", "TMP", "USERPROFILE", "LOCALAPPDATA", "APPDATA"}

// Env is the whole environment of an offline wasip1 build: the host's
// PATH, HOME and temporary folder, this toolchain's root and caches, and
// settings that keep the go command off the network and away from
// anything but the sources. mod is the -mod mode: "readonly", or "vendor"
// for a module with a vendor folder.
func (t Toolchain) Env(mod string) []string {
	env := []string{
		"GOROOT=" + t.GOROOT, "GOCACHE=" + t.GOCACHE, "GOMODCACHE=" + t.GOMODCACHE, "GOPATH=" + t.GOPATH,
		"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0",
		"GOPROXY=off",         // no module is fetched: a missing one is an error
		"GOSUMDB=off",         // and no checksum server is asked (go.sum still checks what is in the cache)
		"GOVCS=*:off",         // no version-control command fetches anything either
		"GOTOOLCHAIN=local",   // a go.mod's go or toolchain line never downloads a toolchain
		"GOWORK=off",          // a go.work file does not pull other folders in
		"GOENV=off",           // the `go env -w` file is not read (GOFLAGS=-toolexec=… could live there)
		"GOFLAGS=-mod=" + mod, // go.mod and go.sum are never rewritten
		"GO111MODULE=on",
	}
	for _, k := range hostPass {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Args are the go build arguments of an offline build of the package in
// the current folder into out: no version-control stamping (which runs
// git in the tool's folder), paths trimmed from the binary.
func Args(out string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-o", out, "."}
}

// ModuleRoot returns the folder of the go.mod that governs dir, the way
// the go command finds it: dir or its nearest parent with a go.mod file.
// It returns "" when there is none.
func ModuleRoot(dir string) string {
	for d := dir; ; {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// ModMode is the -mod mode for a module rooted at root: "vendor" when it
// vendors its dependencies (vendor/modules.txt), else "readonly".
func ModMode(root string) string {
	if root != "" {
		if fi, err := os.Stat(filepath.Join(root, "vendor", "modules.txt")); err == nil && !fi.IsDir() {
			return "vendor"
		}
	}
	return "readonly"
}

// Build compiles the main package in srcDir into outDir/name.wasm, offline,
// and returns that path. Test binaries use it for their guests.
func Build(srcDir, outDir, name string) (string, error) {
	ctx := context.Background()
	tc, err := FindToolchain(ctx, "go")
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(srcDir)
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(outDir, name+".wasm"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, tc.Go, Args(out)...)
	cmd.Dir = abs
	cmd.Env = tc.Env(ModMode(ModuleRoot(abs)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s for wasip1: %v: %s", srcDir, err, stderr.String())
	}
	return out, nil
}

// Binary builds a host binary (for example cmd/airlock) into outDir, with
// extra go build flags (such as "-tags=wasmtime") if any.
func Binary(pkgDir, outDir, name string, flags ...string) (string, error) {
	out := filepath.Join(outDir, name)
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", out, ".")...)
	cmd.Dir = pkgDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %v: %s", pkgDir, err, stderr.String())
	}
	return out, nil
}
