package runtime

import "fmt"

// StateError says a run was refused because one of its mounts would put
// airlock's own state (Config.State, the compile cache) within the tool's
// reach in a way the policy filesystem cannot filter: a mount inside the
// compile cache or a grants file. Nothing ran.
type StateError struct {
	Guest string // the mount's guest path
	Err   error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("mount %s: %v", e.Guest, e.Err)
}
func (e *StateError) Unwrap() error { return e.Err }
