package policy

import "time"

// ParseTimeout parses a wall-time limit as limits.timeout does, with the
// same messages: "30s", "2m", "1h30m"; a number without a unit, or a
// duration of zero or less, is an error that says what to write. The CLI's
// --timeout uses it, so a flag and a policy file say the same thing.
func ParseTimeout(s string) (time.Duration, error) { return parseTimeout(s) }
