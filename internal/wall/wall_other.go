//go:build !linux

package wall

import "runtime"

// Probe returns 0 and why: Landlock is a Linux feature.
func Probe() (abi int, why string) {
	return 0, "Landlock is a Linux feature; this is " + runtime.GOOS
}

// Restrict does nothing outside Linux: the Status it returns is not Up.
func Restrict(p *Plan) (Status, error) {
	_, why := Probe()
	return Status{Reason: why}, nil
}
