package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

func buildCmd(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("build", std.err)
	out := fs.String("o", "", "write the module to `FILE` (default: the manifest's module, else DIR/module.wasm)")
	const synopsis = "usage: airlock build [-o FILE] DIR\nCompiles the Go tool in DIR for wasip1, writes the module beside it, and pins its digest in DIR/tool.hcl."
	dir, _, err := parseInterspersed(fs, args, std, synopsis)
	if err != nil {
		return err
	}
	if dir == "" {
		return missingArg(synopsis, "build")
	}
	if goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(goFiles) == 0 {
		return fail(ExitUsage, "%s holds no Go source: airlock build compiles Go tools (for C, see docs/sdk.md)", dir)
	}

	// The manifest, if any, says where the module goes.
	mf := manifest.Find(dir)
	var man *manifest.Manifest
	if mf != "" {
		m, diags := manifest.Load(mf)
		if diags.HasErrors() {
			policy.WriteDiagnostics(std.err, nil, diags)
			return exitWith(ExitUsage)
		}
		man = m // its warnings (an unpinned digest) are what build fixes
	}
	target := *out
	if target == "" {
		target = filepath.Join(dir, "module.wasm")
		if man != nil && filepath.Ext(man.Module) == ".wasm" {
			target = man.Module
		}
	}

	eng, err := runtime.New(ctx, runtime.Config{OnCompile: compileProgress(std.err)})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer eng.Close(context.Background())
	start := time.Now()
	mod, err := eng.Load(ctx, dir)
	if err != nil {
		return fail(ExitNoModule, "%v", err)
	}
	if err := writeAtomic(target, mod.Bytes); err != nil {
		return fail(ExitUsage, "writing %s: %v", target, err)
	}
	fmt.Fprintf(std.out, "built %s (%s, %s) in %.1fs\n", target, humanSize(len(mod.Bytes)), mod.Digest, time.Since(start).Seconds())

	// A module airlock would refuse is still written, with the reasons.
	if problems, err := eng.Check(ctx, mod); err == nil {
		for _, p := range problems {
			fmt.Fprintf(std.err, "airlock: warning: %s\n", p)
		}
	}

	if mf == "" {
		fmt.Fprintf(std.out, "no %s in %s: run airlock init for one, or pin the digest yourself\n", manifest.FileName, dir)
		return nil
	}
	if man.Digest == mod.Digest {
		fmt.Fprintf(std.out, "%s already pins this digest\n", mf)
		return nil
	}
	if err := pinDigest(mf, mod.Digest); err != nil {
		return fail(ExitUsage, "pinning the digest in %s: %v", mf, err)
	}
	if m, diags := manifest.Load(mf); diags.HasErrors() || m.CheckDigest(mod.Digest) != nil {
		policy.WriteDiagnostics(std.err, nil, diags)
		return fail(ExitUsage, "%s does not pin %s after the edit", mf, mod.Digest)
	}
	fmt.Fprintf(std.out, "pinned the digest in %s\n", mf)
	return nil
}

// pinDigest sets the digest attribute of the tool block in the manifest
// at path, changing nothing else: the new value replaces the old one's
// bytes, found by its source range, so comments, order and layout stay.
// Without a digest attribute, one is added on the line after module.
func pinDigest(path, digest string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return diags
	}
	var tool *hclsyntax.Block
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "tool" {
			tool = b
			break
		}
	}
	if tool == nil {
		return fmt.Errorf("no tool block")
	}
	value := strconv.Quote(digest)
	var out []byte
	if a := tool.Body.Attributes["digest"]; a != nil {
		r := a.Expr.Range()
		out = append(append(append(out, src[:r.Start.Byte]...), value...), src[r.End.Byte:]...)
	} else {
		// After the module attribute's line, or as the block's first line.
		at, indent, name := tool.OpenBraceRange.End.Byte, "  ", "digest "
		if m := tool.Body.Attributes["module"]; m != nil {
			at = m.SrcRange.End.Byte
			if col := m.SrcRange.Start.Column; col > 1 {
				indent = strings.Repeat(" ", col-1)
			}
			// Line "=" up with module's.
			if w := m.EqualsRange.Start.Column - m.NameRange.Start.Column; w > len("digest ") {
				name = "digest" + strings.Repeat(" ", w-len("digest"))
			}
		}
		for at < len(src) && src[at] != '\n' {
			at++ // past a comment at the end of the line
		}
		line := "\n" + indent + name + "= " + value
		out = append(append(append(out, src[:at]...), line...), src[at:]...)
	}
	return writeAtomic(path, out)
}

// writeAtomic writes b to path through a temporary file in the same folder.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// humanSize is a byte count for people: "3.5 MB".
func humanSize(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}
