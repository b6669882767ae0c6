//go:build !linux

package walltest

import "errors"

// ExecWithoutLandlock is Linux only.
func ExecWithoutLandlock(argv, env []string) error {
	return errors.New("walltest: Landlock is a Linux feature")
}

// Main does nothing outside Linux.
func Main() {}

// Args returns the environment entry for Main.
func Args(argv ...string) string { return EnvExec + "=[]" }
