package approvals_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
)

func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".airlock", "audit.jsonl")
	for _, interval := range []time.Duration{0, time.Hour} {
		l, err := approvals.OpenAudit(path, interval)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.Write(approvals.AuditRecord{Time: time.Now(), Tool: "t", Kind: decision.FSWrite, Target: "/x", Decision: "deny", Source: "rule", Args: approvals.Redacted{Count: i}})
			}()
		}
		wg.Wait()
		// Written before Write returns, whatever the sync interval: a reader
		// (or a process that outlives a killed airlock) sees every record.
		if n := countLines(t, path); n != 50*(1+int(interval/time.Hour)) {
			t.Errorf("interval %v: %d lines on disk before Close", interval, n)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Write(approvals.AuditRecord{}); err == nil {
			t.Error("write after close succeeded")
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r approvals.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("torn or invalid line %q: %v", sc.Text(), err)
		}
		n++
	}
	return n
}

// BenchmarkAuditWrite measures one record: written and fsynced each time,
// written with fsync batched every DefaultSyncInterval, and written without
// fsync (only at Close). The figures are in RATIONALE.md.
func BenchmarkAuditWrite(b *testing.B) {
	rec := approvals.AuditRecord{Time: time.Now(), Run: "0123456789abcdef", Tool: "grep",
		Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Kind:   decision.FSRead, Op: "open", Target: "/work/.env", Decision: "deny", Source: "rule",
		Layer: "builtin", Rule: `hide ".env"`, Origin: "builtin", Errno: "ENOENT"}
	for _, c := range []struct {
		name     string
		interval time.Duration
	}{{"fsync-each", 0}, {"fsync-batched", approvals.DefaultSyncInterval}, {"fsync-at-close", time.Hour}} {
		b.Run(c.name, func(b *testing.B) {
			// Under the working directory, not /tmp: tmpfs would make fsync free.
			dir, err := os.MkdirTemp(".", ".bench-audit-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
			l, err := approvals.OpenAudit(filepath.Join(dir, "audit.jsonl"), c.interval)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := l.Write(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
