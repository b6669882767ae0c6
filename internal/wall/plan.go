package wall

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// Access is what a Plan lets the process do under one host path.
type Access int

const (
	// Read lets the process list directories and read files.
	Read Access = iota
	// Write also lets it create, change, truncate, rename, link and remove
	// files, directories and symbolic links. Never: execute a file, or
	// make a device, a named pipe or a socket file.
	Write
	// Device lets it read, write and use ioctl on one device file (the
	// terminal a prompt reopens).
	Device
)

func (a Access) String() string {
	switch a {
	case Write:
		return "write"
	case Device:
		return "device"
	}
	return "read"
}

// MarshalText writes the access as its name, for the --json report.
func (a Access) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an access written by MarshalText.
func (a *Access) UnmarshalText(b []byte) error {
	for _, x := range []Access{Read, Write, Device} {
		if x.String() == string(b) {
			*a = x
			return nil
		}
	}
	return fmt.Errorf("unknown access %q", b)
}

// Path is one host path a Plan keeps reachable, and everything below it.
type Path struct {
	Path   string `json:"path"`
	Access Access `json:"access"`
	// Why names what needs it: "mount /work", "grants", "name lookups".
	Why string `json:"why"`
}

// Plan is what the process may still reach once the wall is up. The zero
// Plan allows nothing: no path, no TCP connection, no TCP bind.
type Plan struct {
	Paths []Path
	// Connect lists the TCP ports the process may connect to (on any
	// address: Landlock matches ports only). Ignored when AnyPort is set.
	Connect []uint16
	// AnyPort, when not empty, says why TCP connections cannot be limited
	// by port: the network policy or an answer may allow any port.
	AnyPort string
	// Net is true when the process may make outbound connections at all:
	// Restrict then keeps the system's TLS roots readable.
	Net bool
}

// maxPorts bounds the TCP ports a Plan lists one by one (one Landlock rule
// each); a policy that allows more is treated as allowing any port.
const maxPorts = 1024

// Add keeps host path p reachable with access a, for the reason why. A
// relative or empty path is ignored: every caller has absolute paths, and
// a relative one would depend on the working directory.
func (p *Plan) Add(hostPath string, a Access, why string) {
	if hostPath == "" || !filepath.IsAbs(hostPath) {
		return
	}
	if slices.ContainsFunc(p.Paths, func(x Path) bool { return x.Path == hostPath && x.Access == a }) {
		return // the first reason given is kept
	}
	p.Paths = append(p.Paths, Path{Path: hostPath, Access: a, Why: why})
}

// AddPort allows TCP connections to port.
func (p *Plan) AddPort(port int) {
	if port < 1 || port > 65535 {
		return
	}
	p.Net = true
	if !slices.Contains(p.Connect, uint16(port)) {
		p.Connect = append(p.Connect, uint16(port))
	}
}

// AllowAnyPort gives up limiting TCP connections by port, for the reason why
// (the first reason given is kept).
func (p *Plan) AllowAnyPort(why string) {
	p.Net = true
	if p.AnyPort == "" {
		p.AnyPort = why
	}
}

// Answers says what may turn a policy's "ask" into an allow while the tool
// runs, after the wall is up: the wall must already leave room for it.
type Answers struct {
	// AskMayAllow is true when a question may be answered allow: a person
	// can be asked (a terminal, an MCP client), or the policy's headless
	// answer is allow, in a mode that asks.
	AskMayAllow bool
	// Writes are the guest paths with a remembered grant to write.
	Writes []string
	// Connects are the network targets with a remembered grant to connect
	// ("api.github.com:443").
	Connects []string
}

// resolverFiles are what Go's resolver (and the C library's, for the
// "files" and "dns" sources) read to look a name up. They are re-read when
// they change, so they stay readable rather than being read once.
var resolverFiles = []string{
	"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services",
}

// AddPolicy keeps reachable what runs under pol need, with answers:
//
//   - every mount root: read-write for a write mount; read-only for a read
//     mount, unless a write into it may be approved (answers), and never
//     for a mount the managed ceiling made read-only;
//   - the TCP ports pol's network allow rules name (443 for https, 80 for
//     http), and those of remembered grants; any port when the default is
//     allow, when it is ask and an answer may allow, or when a rule names
//     no port;
//   - port 53 and the resolver's files whenever anything may connect: a
//     name is looked up to be matched against address rules too
//     (`allow "tcp://127.0.0.1:8080"` lets a tool dial localhost:8080).
func (p *Plan) AddPolicy(pol *policy.Policy, answers Answers) {
	for _, m := range pol.Mounts {
		a := Read
		why := "mount " + m.Guest
		switch {
		case m.Access == policy.Write:
			a = Write
		case m.Origin.Layer == policy.LayerManaged:
		case answers.AskMayAllow:
			a, why = Write, why+` (access = "read"; a write may be approved)`
		case slices.ContainsFunc(answers.Writes, func(g string) bool { return under(g, m.Guest) }):
			a, why = Write, why+` (access = "read"; a remembered grant writes there)`
		}
		p.Add(m.Host, a, why)
	}

	n := &pol.Network
	names := len(n.Allow) > 0 || len(answers.Connects) > 0
	switch {
	case n.Default == policy.Allow:
		p.AllowAnyPort(`network.default = "allow"`)
		names = true
	case n.Default == policy.Ask && answers.AskMayAllow:
		p.AllowAnyPort(`network.default = "ask", and an answer may allow any port`)
		names = true
	}
	ports := 0
	for _, r := range n.Allow {
		rs := r.Ports()
		if rs == nil {
			p.AllowAnyPort(fmt.Sprintf("network allow %q names no port", r.Text))
			continue
		}
		for _, pr := range rs {
			ports += pr.Hi - pr.Lo + 1
			if ports > maxPorts {
				p.AllowAnyPort(fmt.Sprintf("network allow rules name more than %d ports", maxPorts))
				break
			}
			for port := pr.Lo; port <= pr.Hi; port++ {
				p.AddPort(port)
			}
		}
	}
	for _, target := range answers.Connects {
		_, port := hostPort(target)
		if port == 0 {
			p.AllowAnyPort(fmt.Sprintf("a remembered grant to connect to %q names no port", target))
			continue
		}
		p.AddPort(port)
	}
	if names {
		p.AddLookups()
	}
}

// AddEndpoints allows connections to each endpoint, a URL
// ("https://collector:4318") or a gRPC "host:port": its port (443 for
// https, 80 for http when it names none), and name lookups when its host
// is a name. An endpoint whose port cannot be told allows any port.
func (p *Plan) AddEndpoints(why string, endpoints ...string) {
	for _, e := range endpoints {
		host, port := hostPort(e)
		if port == 0 {
			p.AllowAnyPort(fmt.Sprintf("%s %q names no port", why, e))
			continue
		}
		p.AddPort(port)
		if net.ParseIP(strings.Trim(host, "[]")) == nil {
			p.AddLookups()
		}
	}
}

// AddLookups keeps name lookups working: the resolver's files, and TCP
// port 53 (a DNS answer too long for UDP is asked again over TCP; Landlock
// does not restrict UDP before ABI 10).
func (p *Plan) AddLookups() {
	p.AddPort(53)
	for _, f := range resolverFiles {
		p.Add(f, Read, "name lookups")
	}
}

// hostPort splits an endpoint into its host and port; port is 0 when it
// cannot be told.
func hostPort(e string) (string, int) {
	e = strings.TrimSpace(e)
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil {
			return "", 0
		}
		port := u.Port()
		if port == "" {
			switch strings.ToLower(u.Scheme) {
			case "https":
				port = "443"
			case "http":
				port = "80"
			}
		}
		n, _ := strconv.Atoi(port)
		return u.Hostname(), n
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return e, 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

// under reports whether guest path g is dir or lies below it.
func under(g, dir string) bool {
	g, dir = path.Clean(g), path.Clean(dir)
	return g == dir || strings.HasPrefix(g, strings.TrimSuffix(dir, "/")+"/")
}

// tlsRoots are where Go's crypto/x509 looks for the system's TLS roots on
// Linux (root_linux.go, and $SSL_CERT_FILE, $SSL_CERT_DIR): public
// certificates, never private keys (/etc/ssl/private is not among them).
// They are loaded on the first TLS handshake, which may come after the
// wall; loading them before every run instead cost 10 to 100 ms here.
func tlsRoots(getenv func(string) string) []string {
	roots := []string{
		"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem",
		"/etc/pki/tls/cacert.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/cert.pem",
		"/etc/ssl/certs", "/etc/pki/tls/certs",
	}
	if f := getenv("SSL_CERT_FILE"); f != "" {
		roots = append(roots, f)
	}
	if d := getenv("SSL_CERT_DIR"); d != "" {
		roots = append(roots, filepath.SplitList(d)...)
	}
	return roots
}
