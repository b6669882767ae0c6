//go:build linux

package host

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// maxGitFile bounds how much of a ".git" file is read.
const maxGitFile = 4096

// protectGitDir protects the git directory a ".git" file or symlink at the
// mount root names, when ".git" is protected and that directory (and the
// common directory of a worktree) lies inside the mount.
func (f *FS) protectGitDir() error {
	if _, ok := f.protected(".git"); !ok {
		return nil
	}
	real := *f.realRoot.Load()
	fi, err := f.root.Lstat(".git")
	if err != nil {
		return nil // no .git yet: the name itself is protected
	}
	var gitDir string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if gitDir, err = filepath.EvalSymlinks(filepath.Join(real, ".git")); err != nil {
			return nil
		}
	case fi.Mode().IsRegular():
		file, err := f.root.Open(".git")
		if err != nil {
			return fmt.Errorf("reading .git: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(file, maxGitFile))
		file.Close()
		if err != nil {
			return fmt.Errorf("reading .git: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		dir, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
		if !ok {
			return nil
		}
		gitDir = resolveHost(real, strings.TrimSpace(dir))
	default:
		return nil
	}
	if err := f.protectInside(real, gitDir); err != nil {
		return err
	}
	// A worktree's gitdir names its common directory in "commondir".
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil && len(b) < maxGitFile {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gitDir, common)
		}
		return f.protectInside(real, resolveHost(real, common))
	}
	return nil
}

// resolveHost makes p absolute (relative to dir) and resolves symlinks in
// it as far as it exists.
func resolveHost(dir, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// protectInside adds an anchored protect pattern for host path p when it is
// inside the mount root real.
func (f *FS) protectInside(real, p string) error {
	rel, err := filepath.Rel(real, p)
	if err != nil || rel == "." || escapes(filepath.ToSlash(rel)) {
		return nil
	}
	if _, ok := f.protected(rel); ok {
		return nil
	}
	pat, err := policy.NewPattern("./"+globEscape(filepath.ToSlash(rel)), policy.Origin{Layer: policy.LayerBuiltin})
	if err != nil {
		return fmt.Errorf("protecting git directory %s: %w", rel, err)
	}
	f.protect = append(f.protect, pat)
	return nil
}

// globEscape quotes the characters path.Match treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
