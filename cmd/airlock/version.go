package main

import (
	"context"
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
)

// versionInfo is what the binary knows of its own build, from the build
// information the Go toolchain embeds: the module version (a tag when
// built with go install …@vX, "(devel)" from a checkout), the VCS
// revision and time when built in a checkout, and the versions of the
// engine and Go.
type versionInfo struct {
	Version  string
	Revision string
	Time     string
	Modified bool
	Wazero   string
	Go       string
	Platform string
}

func readVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Go: goruntime.Version(), Platform: goruntime.GOOS + "/" + goruntime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/tetratelabs/wazero" {
			v.Wazero = d.Version
			if d.Replace != nil {
				v.Wazero = d.Replace.Version + " (replaced)"
			}
		}
	}
	return v
}

// version is the one-word version: the module version.
func version() string { return readVersion().Version }

// versionCmd prints the version: the first line is "airlock VERSION", for
// scripts; the lines after it say what it was built from.
func versionCmd(ctx context.Context, args []string, std stdio) error {
	const synopsis = "usage: airlock version (or airlock --version)\nPrint airlock's version, the source revision it was built from, and the versions of wazero and Go."
	fs := newFlags("version", std.err)
	if err := parseFlags(fs, args, std, synopsis); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fail(ExitUsage, "airlock version takes no arguments, not %q", fs.Arg(0))
	}
	writeVersion(std.out, readVersion())
	return nil
}

func writeVersion(w io.Writer, v versionInfo) {
	fmt.Fprintln(w, "airlock", v.Version)
	if v.Revision != "" {
		rev := v.Revision
		if v.Modified {
			rev += " (modified)"
		}
		if v.Time != "" {
			rev += ", " + v.Time
		}
		fmt.Fprintln(w, "  revision", rev)
	}
	if v.Wazero != "" {
		fmt.Fprintln(w, "  wazero  ", v.Wazero)
	}
	fmt.Fprintln(w, "  go      ", v.Go, v.Platform)
}
