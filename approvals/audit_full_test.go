package approvals_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/tmpfstest"
)

// TestAuditFullDiskKeepsWholeRecords fills a real filesystem (a 64 KiB
// tmpfs) under the audit log: the write that no longer fits fails with
// ENOSPC and leaves nothing of itself, so the file holds only whole
// records; once space is freed, records are written again.
func TestAuditFullDiskKeepsWholeRecords(t *testing.T) {
	dir := tmpfstest.Mount(t, 64<<10)
	path := filepath.Join(dir, "audit.jsonl")
	l, err := approvals.OpenAudit(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A long note makes each record cross page boundaries, where tmpfs
	// cuts a write short.
	rec := approvals.AuditRecord{Time: time.Now(), Tool: "t", Kind: decision.FSWrite, Target: "/x",
		Decision: "deny", Source: "rule", Note: string(bytes.Repeat([]byte("n"), 1500))}
	if err := l.Write(rec); err != nil {
		t.Fatal(err)
	}
	filler := tmpfstest.Fill(t, dir)

	whole := sizeOf(t, path)
	var failed error
	for range 20 { // the filler leaves less than a page: some record fails
		if failed = l.Write(rec); failed != nil {
			break
		}
		whole = sizeOf(t, path)
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("writing to a full disk: %v, want ENOSPC", failed)
	}
	if got := sizeOf(t, path); got != whole {
		t.Errorf("after the failed write the log is %d bytes, want %d (the end of the last whole record)", got, whole)
	}
	n := countLines(t, path) // fails the test on a torn line
	if err := l.Write(rec); err == nil {
		t.Fatal("a write to a still full disk succeeded")
	}
	countLines(t, path)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(rec); err != nil {
		t.Fatalf("after space was freed: %v", err)
	}
	if got := countLines(t, path); got != n+1 {
		t.Errorf("%d lines after space was freed, want %d", got, n+1)
	}
	// Close reports that records were lost meanwhile.
	if err := l.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close = %v, want the ENOSPC met earlier", err)
	}
}

// TestAuditRepairsTornTail: a log that ends in a torn line (a crash of the
// machine in the middle of a record) is repaired when it is opened: the
// fragment is removed and reported, and the records before it are kept.
func TestAuditRepairsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := approvals.OpenAudit(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := l.Write(approvals.AuditRecord{Time: time.Now(), Tool: "t", Decision: "allow", Source: "rule"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	whole := sizeOf(t, path)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","run":"ab`)
	f.Close()

	l, err = approvals.OpenAudit(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Repaired(); got != int64(len(`{"time":"2026-01-01T00:00:00Z","run":"ab`)) {
		t.Errorf("Repaired = %d", got)
	}
	if got := sizeOf(t, path); got != whole {
		t.Errorf("after the repair the log is %d bytes, want %d", got, whole)
	}
	l.Write(approvals.AuditRecord{Time: time.Now(), Tool: "t", Decision: "deny", Source: "rule"})
	l.Close()
	if n := countLines(t, path); n != 4 {
		t.Errorf("%d records, want 4", n)
	}
	l, _ = approvals.OpenAudit(path, 0)
	if l.Repaired() != 0 {
		t.Errorf("a whole log was repaired: %d bytes", l.Repaired())
	}
	l.Close()
}

func sizeOf(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
