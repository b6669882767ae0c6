package warm

import (
	"os"
	"strconv"
)

// SocketEnv names the variable that puts the server's socket elsewhere
// (tests; two airlock builds side by side). OffEnv set to "off" or "0"
// makes a run start cold even when a server is up.
const (
	SocketEnv = "AIRLOCK_WARM_SOCKET"
	OffEnv    = "AIRLOCK_WARM"
)

// SocketPath is where the server of this user listens: $AIRLOCK_WARM_SOCKET,
// else airlock/warm.sock in $XDG_RUNTIME_DIR, else in a folder of the
// user's own in the temporary directory.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	return SocketDir() + "/warm.sock"
}

// SocketDir is the folder of the default socket, which only its user may
// enter (Serve makes it 0700 and refuses one anybody else owns).
func SocketDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); hasPrefix(d, "/") {
		return trimSlashes(d) + "/airlock"
	}
	return trimSlashes(os.TempDir()) + "/airlock-" + strconv.Itoa(os.Getuid())
}

// StateDir is the folder of the socket in use, which holds the server's
// log too: airlock's state, out of every tool's reach.
func StateDir() string { return dirOf(SocketPath()) }

// Off reports whether the person asked this run to start cold.
func Off() bool {
	v := os.Getenv(OffEnv)
	return v == "off" || v == "0"
}

// dirOf is the folder of a socket path (path/filepath, which starts too
// late for Handoff, is not imported: see package handoff).
func dirOf(path string) string {
	i := len(path) - 1
	for i >= 0 && path[i] != '/' {
		i--
	}
	switch {
	case i < 0:
		return "."
	case i == 0:
		return "/"
	}
	return path[:i]
}

// trimSlashes is path without the slashes it ends with.
func trimSlashes(path string) string {
	for len(path) > 0 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	return path
}
