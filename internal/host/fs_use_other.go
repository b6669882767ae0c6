//go:build !linux

package host

import "github.com/airlockhq/airlock/decision"

// noteLook does nothing: without the policy filesystem there is nothing to
// learn from.
func (f *FS) noteLook(kind decision.Kind, op, p string) {}
