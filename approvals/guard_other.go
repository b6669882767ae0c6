//go:build !unix

package approvals

import "errors"

// pollIn cannot wait without poll(2): the guarded reader then reads at
// once, as it does for a stream that is not a file.
func pollIn(fd uintptr, ms int) (ready bool, err error) {
	return false, errors.ErrUnsupported
}
