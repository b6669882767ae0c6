package mcp

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// Watch reloads the tools folder whenever it changes, until ctx ends: it
// compares the size and modification time of every file under the folder
// (hidden folders and anything deeper than three levels left out) and of
// every module a manifest names, each PollInterval. A change reloads the
// whole folder; clients are told with notifications/tools/list_changed.
// A negative PollInterval turns watching off.
func (s *Server) Watch(ctx context.Context) {
	if s.opts.PollInterval < 0 {
		return
	}
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		roots, seen := s.watched(), s.seen
		s.mu.Unlock()
		if scan(roots) != seen {
			if err := s.Reload(ctx); err != nil {
				s.log.Error("mcp: reloading tools", "dir", s.opts.ToolsDir, "err", err)
			}
		}
	}
}

// fingerprint sums up the state of the watched files.
type fingerprint string

// maxWatched bounds how many entries one scan looks at.
const maxWatched = 10000

// scan fingerprints each root (a file, or a folder walked three levels
// deep, hidden folders left out): path, mode, size and mtime of each entry.
func scan(roots []string) fingerprint {
	var b strings.Builder
	n := 0
	for _, root := range roots {
		root = filepath.Clean(root)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				b.WriteString(p + "\x00!\n")
				return nil
			}
			if n++; n > maxWatched {
				return filepath.SkipAll
			}
			if d.IsDir() && p != root {
				if strings.HasPrefix(d.Name(), ".") || strings.Count(strings.TrimPrefix(p, root), string(filepath.Separator)) > 3 {
					return filepath.SkipDir
				}
			}
			b.WriteString(p)
			if fi, err := d.Info(); err == nil {
				fmt.Fprintf(&b, "\x00%s\x00%d\x00%d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
			}
			b.WriteString("\n")
			return nil
		})
	}
	return fingerprint(b.String())
}
