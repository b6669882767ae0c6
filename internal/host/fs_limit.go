package host

import (
	"strconv"
	"sync/atomic"

	"github.com/airlockhq/airlock/policy"
)

// OpenFileLimit bounds how many files and directories a run holds open at
// once, across all of its mounts. One limit is shared by every FS of a run.
// Opening past the limit is refused (and recorded as a decision); closing a
// file gives its place back. A nil *OpenFileLimit means no limit.
//
// It is safe for concurrent use.
type OpenFileLimit struct {
	max  int64
	open atomic.Int64

	// Origin is where the limit was written (limits.open_files in a
	// policy), named in the decision a refusal records. Set it before the
	// limit is shared.
	Origin policy.Origin
}

// NewOpenFileLimit returns a limit of max files open at once. max <= 0
// means no limit.
func NewOpenFileLimit(max int) *OpenFileLimit {
	return &OpenFileLimit{max: int64(max)}
}

// Max returns the limit; zero or less means none.
func (l *OpenFileLimit) Max() int {
	if l == nil {
		return 0
	}
	return int(l.max)
}

// Open returns how many files are open now under this limit.
func (l *OpenFileLimit) Open() int {
	if l == nil {
		return 0
	}
	return int(l.open.Load())
}

// acquire takes one place, reporting false when none is left.
func (l *OpenFileLimit) acquire() bool {
	if l == nil || l.max <= 0 {
		return true
	}
	for {
		n := l.open.Load()
		if n >= l.max {
			return false
		}
		if l.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives back a place taken by acquire.
func (l *OpenFileLimit) release() {
	if l == nil || l.max <= 0 {
		return
	}
	l.open.Add(-1)
}

// rule names the limit in a decision record.
func (l *OpenFileLimit) rule() string {
	return "limits open_files = " + strconv.FormatInt(l.max, 10)
}
