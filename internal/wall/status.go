package wall

import "time"

// Status says whether the wall is up and what it holds. It is the
// "landlock" object of the --json report (docs/report.md).
type Status struct {
	// Up is true once the kernel enforces the Plan on every thread.
	Up bool `json:"up"`
	// Mode is the policy's sandbox.landlock: "auto", "require" or "off".
	Mode string `json:"mode"`
	// ABI is the kernel's Landlock ABI version; 0 when it has none.
	ABI int `json:"abi"`
	// Used is the ABI version airlock restricted with: the kernel's, or
	// the newest airlock knows (MaxABI) when the kernel's is newer.
	Used int `json:"abi_used,omitempty"`
	// Reason says why the wall is not up.
	Reason string `json:"reason,omitempty"`
	// Covers lists what the kernel restricts (see Restrict).
	Covers []string `json:"covers,omitempty"`
	// Paths are the host paths left reachable, each with its access.
	Paths []Path `json:"paths,omitempty"`
	// Connect lists the TCP ports left reachable when "tcp.connect" is
	// covered.
	Connect []uint16 `json:"tcp_connect,omitempty"`
	// AnyPort says why TCP connections are not limited by port, when they
	// are not.
	AnyPort string `json:"tcp_any_port,omitempty"`
	// Took is how long raising the wall took (building the rules, loading
	// what must be loaded before, restricting every thread).
	Took time.Duration `json:"-"`
	// TookMS is Took in milliseconds, for the report.
	TookMS float64 `json:"took_ms"`
}

// MaxABI is the newest Landlock ABI version airlock restricts with. A newer
// kernel is used at this version: its newer rights (pathname UNIX sockets
// from 9, UDP from 10) are not restricted until airlock has been tested
// with them.
const MaxABI = 7
