package approvals

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/decision"
)

// AuditRecord is one line of the audit log: one decision. Field names are
// documented in docs/approvals.md; add fields, never rename them.
type AuditRecord struct {
	Time   time.Time     `json:"time"`
	Run    string        `json:"run"` // the run's ID: the records of one run share it
	Tool   string        `json:"tool"`
	Digest string        `json:"digest"`
	Kind   decision.Kind `json:"kind"`   // the capability's kind: fs.write, net.connect, env, …
	Op     string        `json:"op"`     // the operation, or "request" (before the run), "rerun" (on-failure)
	Target string        `json:"target"` // exactly what: a guest path, host:port, a variable name
	// Decision is "allow" or "deny".
	Decision string `json:"decision"`
	// Answer is the choice behind it when a person, a grant or the
	// headless rule answered: "allow once", "always deny", …
	Answer string `json:"answer,omitempty"`
	// Source is who decided: rule, grant, user, headless, revoked.
	Source string `json:"source"`
	// Layer is the layer of the deciding rule: managed, project, flag,
	// grant, builtin.
	Layer  string `json:"layer,omitempty"`
	Rule   string `json:"rule,omitempty"`
	Origin string `json:"origin,omitempty"` // file:line:col of the rule
	Errno  string `json:"errno,omitempty"`
	Note   string `json:"note,omitempty"`
	// Ended says how the question behind the decision ended, when a
	// person was asked: answered, timed-out, cancelled (the tool withdrew
	// its request), interrupted (ctrl+c) or run-ended.
	Ended string `json:"ended,omitempty"`
	// Args says how many arguments the tool had and their total length;
	// their values are never written (they may hold secrets).
	Args Redacted `json:"args"`
}

// Redacted stands for values that are not written: their count and length.
type Redacted struct {
	Count int `json:"count"`
	Bytes int `json:"bytes"`
}

func redact(args []string) Redacted {
	r := Redacted{Count: len(args)}
	for _, a := range args {
		r.Bytes += len(a)
	}
	return r
}

// layerOf names the layer of a rule from its origin string.
func layerOf(origin string) string {
	switch {
	case origin == "":
		return ""
	case strings.HasPrefix(origin, "managed"):
		return "managed"
	case strings.HasPrefix(origin, "grant"):
		return "grant"
	case origin == "flag":
		return "flag"
	case strings.HasPrefix(origin, "builtin"):
		return "builtin"
	}
	return "project"
}

// DefaultAuditFile is the project's audit log: .airlock/audit.jsonl in dir.
func DefaultAuditFile(dir string) string { return filepath.Join(dir, ".airlock", "audit.jsonl") }

// DefaultSyncInterval bounds how long a written record may wait for its
// fsync (see AuditLog and RATIONALE.md, "Why fsync the audit log in
// batches, and write each record at once?").
const DefaultSyncInterval = 50 * time.Millisecond

// AuditLog is an append-only file of JSON lines, one AuditRecord each.
//
// Each record is written with one write(2) on a file opened O_APPEND before
// Write returns, so it is in the kernel the moment the decision is made:
// killing airlock (even with SIGKILL) loses no record already decided, and
// several processes may append to one log without tearing lines. fsync,
// which survives a crash of the machine, runs in batches: at most
// SyncInterval after a record is written, and on Close.
//
// A record is whole or absent: a write cut short (a full disk) is rolled
// back to the end of the last whole record before Write returns its error,
// and OpenAudit removes a torn last line left by a crash (Repaired), so
// every line of the file parses. Writers take an exclusive lock on the file
// (flock) around each record, so that a rollback never cuts a record
// another process appended.
//
// AuditLog is safe for concurrent use.
type AuditLog struct {
	path     string
	interval time.Duration

	mu     sync.Mutex
	f      *os.File
	dirty  bool
	timer  *time.Timer
	err    error // the first write or sync error
	closed bool
	torn   bool // a rollback failed: the file may end in a torn line

	repaired int64 // bytes of a torn last line OpenAudit removed

	syncing sync.WaitGroup // fsyncs running outside mu
}

// OpenAudit opens (creating it and its directory if needed) the audit log
// at path. syncInterval 0 fsyncs every record before Write returns.
func OpenAudit(path string, syncInterval time.Duration) (*AuditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	// Read as well as append: a torn last line is found by reading. Never
	// through a symbolic link, never anything but a regular file: a tool
	// that could write the folder in an earlier run (under a policy with
	// another audit log) could have left a link there to a file it may not
	// write, whose last line the repair below would cut.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|auditOpenFlags, 0o600)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("opening the audit log: %s is a symbolic link; airlock does not write its audit log through one (a tool may have made it): remove it or name another file", path)
		}
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening the audit log: %s is not a regular file", path)
	}
	l := &AuditLog{path: path, interval: syncInterval, f: f}
	unlock, err := lockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the audit log %s: %w", path, err)
	}
	l.repaired, err = repairTail(f)
	unlock()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("repairing the audit log %s: %w", path, err)
	}
	return l, nil
}

// Path is where the log is.
func (l *AuditLog) Path() string { return l.path }

// Repaired is how many bytes of a torn last line OpenAudit removed: a
// record cut short by a crash of the machine (or of a writer whose
// rollback failed), which no reader could parse. Zero when the file ended
// with a whole record.
func (l *AuditLog) Repaired() int64 { return l.repaired }

// repairTail removes what follows the file's last newline: the remains of
// a record that was never whole. It returns how many bytes it removed.
func repairTail(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			keep := start + int64(i) + 1
			if keep == size {
				return 0, nil
			}
			return size - keep, f.Truncate(keep)
		}
		end = start
	}
	return size, f.Truncate(0) // not one whole line
}

// Write appends rec as one line. An error is also kept, and returned by
// Close: a record that could not be written must not pass unnoticed.
func (l *AuditLog) Write(rec AuditRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return l.fail(fmt.Errorf("encoding an audit record: %w", err))
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.failLocked(fmt.Errorf("audit log %s: write after close", l.path))
	}
	if err := l.append(b); err != nil {
		return l.failLocked(err)
	}
	if l.interval <= 0 {
		if err := l.f.Sync(); err != nil {
			return l.failLocked(fmt.Errorf("syncing the audit log %s: %w", l.path, err))
		}
		return nil
	}
	l.dirty = true
	if l.timer == nil {
		l.timer = time.AfterFunc(l.interval, l.syncTick)
	}
	return nil
}

// append writes b, one whole record, at the end of the file with one
// write(2), holding the file lock. A write cut short is rolled back: the
// file is truncated to its size before the write, the end of the last whole
// record. l.mu must be held.
func (l *AuditLog) append(b []byte) error {
	unlock, err := lockFile(l.f)
	if err != nil {
		return fmt.Errorf("locking the audit log %s: %w", l.path, err)
	}
	defer unlock()
	if l.torn {
		if _, err := repairTail(l.f); err != nil {
			return fmt.Errorf("writing the audit log %s: removing a partial record: %w", l.path, err)
		}
		l.torn = false
	}
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("writing the audit log %s: %w", l.path, err)
	}
	n, err := l.f.Write(b)
	if err == nil {
		return nil
	}
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // the path is said once, below
	}
	if n > 0 {
		if terr := l.f.Truncate(fi.Size()); terr != nil {
			l.torn = true // the next write, or the next OpenAudit, tries again
			return fmt.Errorf("writing the audit log %s: %w; removing the partial record: %v", l.path, err, terr)
		}
	}
	return fmt.Errorf("writing the audit log %s: %w", l.path, err)
}

// syncTick runs SyncInterval after the first unsynced record. The fsync
// runs outside the lock, so writers do not wait for the disk.
func (l *AuditLog) syncTick() {
	l.mu.Lock()
	l.timer = nil
	if !l.dirty || l.closed {
		l.mu.Unlock()
		return
	}
	l.dirty = false
	l.syncing.Add(1)
	l.mu.Unlock()
	err := l.f.Sync()
	l.syncing.Done()
	if err != nil {
		l.fail(fmt.Errorf("syncing the audit log %s: %w", l.path, err))
	}
}

// Sync writes every record to stable storage now.
func (l *AuditLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.dirty = false
		if err := l.f.Sync(); err != nil {
			l.failLocked(fmt.Errorf("syncing the audit log %s: %w", l.path, err))
		}
	}
	return l.err
}

// Close syncs and closes the log, and returns the first error the log met.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.err
	}
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	l.syncing.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Sync(); err != nil {
		l.failLocked(fmt.Errorf("syncing the audit log %s: %w", l.path, err))
	}
	if err := l.f.Close(); err != nil {
		l.failLocked(fmt.Errorf("closing the audit log %s: %w", l.path, err))
	}
	return l.err
}

func (l *AuditLog) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(err)
}

func (l *AuditLog) failLocked(err error) error {
	if l.err == nil {
		l.err = err
	}
	return err
}
