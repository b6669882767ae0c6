//go:build linux

package host_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// ---- fixtures: a test CA, a resolver the tests control, one engine ----

// testCA is a certificate authority made for this test binary, and a
// server certificate it signed for secure.test and 127.0.0.1.
type testCA struct {
	pool    *x509.CertPool
	pem     []byte
	leaf    tls.Certificate
	certDER []byte
}

var netCA = sync.OnceValue(func() *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "airlock test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "secure.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"secure.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, key)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testCA{
		pool:    pool,
		pem:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		leaf:    tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
		certDER: leafDER,
	}
})

// testResolver maps names to addresses and counts the lookups of each.
type testResolver struct {
	mu      sync.Mutex
	names   map[string][]netip.Addr
	lookups map[string]int
}

func (r *testResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups[host]++
	if a, ok := r.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *testResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

var loopback = netip.MustParseAddr("127.0.0.1")

var netResolver = &testResolver{
	names: map[string][]netip.Addr{
		"allowed.test": {loopback},
		"rebind.test":  {loopback},
		"secure.test":  {loopback},
		// Two addresses: the first is denied (a deny rule), the second
		// is tried.
		"two.test": {netip.MustParseAddr("127.0.0.2"), loopback},
	},
	lookups: map[string]int{},
}

// netEnv is one engine with the network functions, shared by the tests so
// the guest compiles once.
type netEnv struct {
	eng   *runtime.Engine
	guest *runtime.Module
}

var netEngine = sync.OnceValues(func() (*netEnv, error) {
	eng, err := runtime.New(context.Background(), runtime.Config{
		CacheDir: "-",
		Net: host.NetConfig{
			Resolver: netResolver, RootCAs: netCA().pool, DialTimeout: 5 * time.Second,
		},
	})
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(host.NetGuestWasm())
	if err != nil {
		return nil, err
	}
	return &netEnv{eng: eng, guest: runtime.NewModule("netguest", b)}, nil
})

// ---- running the guest ----

type netCase struct {
	policy  string            // HCL added after the /work mount and limits
	args    []string          // the guest's action and its arguments
	env     map[string]string // the host environment (credentials read it)
	files   map[string]string // files in the /work mount
	asker   decision.Asker
	module  *runtime.Module // the netguest if nil
	timeout string          // limits.timeout, "30s" if empty
	// abandon runs with runtime.InterruptAbandon (airlock run's mode)
	// instead of InterruptInstrument.
	abandon bool
	// eng runs the guest instead of the shared engine with test network
	// settings.
	eng *runtime.Engine
}

type netOutcome struct {
	res  *runtime.Result
	out  string
	file string // the policy file's name, as origins show it
}

func runNet(t testing.TB, c netCase) netOutcome {
	t.Helper()
	env, err := netEngine()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range c.files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	timeout := c.timeout
	if timeout == "" {
		timeout = "30s"
	}
	src := fmt.Sprintf("mount \"/work\" {\n  host = %q\n  access = \"write\"\n}\nlimits {\n  timeout = %q\n}\n%s\n", work, timeout, c.policy)
	file := filepath.Join(dir, "policy.hcl")
	p, diags := policy.Parse([]byte(src), file, policy.LayerProject, dir)
	if diags.HasErrors() {
		t.Fatalf("policy: %v\n%s", diags, src)
	}
	lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
	mod := c.module
	if mod == nil {
		mod = env.guest
	}
	interrupt := runtime.InterruptInstrument
	if c.abandon {
		interrupt = runtime.InterruptAbandon
	}
	eng := env.eng
	if c.eng != nil {
		eng = c.eng
	}
	var out bytes.Buffer
	res, err := eng.Run(context.Background(), runtime.Spec{
		Module: mod, Args: c.args, Stdout: &out, Stderr: &out, Policy: p,
		LookupEnv: lookup, Asker: c.asker, Interrupt: interrupt,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return netOutcome{res: res, out: out.String(), file: file}
}

// netDecisions returns the decisions of kind NetKind.
func (o netOutcome) netDecisions() []decision.Decision {
	var ds []decision.Decision
	for _, d := range o.res.Decisions {
		if d.Kind == decision.NetConnect {
			ds = append(ds, d)
		}
	}
	return ds
}

// wantOne checks that exactly one network decision was recorded, with the
// given answer, target and rule, and an origin at line of the policy file
// (0: a built-in rule). runNet's policy files start the caller's HCL at
// line 8, so a rule in "network {\n  allow = […]" is on line 9.
func (o netOutcome) wantOne(t *testing.T, allowed bool, target, rule string, line int) {
	t.Helper()
	ds := o.netDecisions()
	if len(ds) != 1 {
		t.Fatalf("want one network decision, got %+v\noutput:\n%s", ds, o.out)
	}
	d := ds[0]
	origin := "builtin"
	if line > 0 {
		origin = o.file + ":" + strconv.Itoa(line) + ":"
	}
	if d.Allowed != allowed || d.Target != target || d.Rule != rule || !strings.HasPrefix(d.Origin, origin) {
		t.Errorf("decision %+v\nwant allowed=%v target=%q rule=%q origin %s…", d, allowed, target, rule, origin)
	}
	if !allowed && d.Errno != "EACCES" {
		t.Errorf("denied with errno %q, want EACCES", d.Errno)
	}
}

func (o netOutcome) wantExit(t *testing.T, code uint32) {
	t.Helper()
	if o.res.Reason != runtime.Exited || o.res.ExitCode != code {
		t.Fatalf("run ended %s %d (%v), want exit %d\noutput:\n%s", o.res.Reason, o.res.ExitCode, o.res.Err, code, o.out)
	}
}

func (o netOutcome) wantOut(t *testing.T, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(o.out, p) {
			t.Errorf("output lacks %q:\n%s", p, o.out)
		}
	}
}

// ---- servers on 127.0.0.1 that count what reaches them ----

// echoServer accepts TCP connections, counts them, and sends back what
// each sends until it half-closes.
type echoServer struct {
	ln      net.Listener
	accepts atomic.Int64
	port    string
}

func newEchoServer(t testing.TB) *echoServer { return newEchoServerOn(t, "127.0.0.1:0") }

// newEchoServerOn is an echoServer listening on addr ("0.0.0.0:0": every
// interface).
func newEchoServerOn(t testing.TB, addr string) *echoServer {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(b)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

// httpServer is an httptest server that counts connections. Its handler
// echoes the request back: every request header as a response header
// "Echo-Name", and the whole request (headers and body) as the body.
type httpServer struct {
	*httptest.Server
	conns atomic.Int64
	port  string

	mu   sync.Mutex
	seen []http.Header
}

func newHTTPServer(t testing.TB, tlsOn bool, handler http.Handler) *httpServer {
	s := &httpServer{}
	if handler == nil {
		handler = http.HandlerFunc(s.echo)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if tlsOn {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{netCA().leaf}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	s.Server = srv
	s.port = strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	t.Cleanup(srv.Close)
	return s
}

func (s *httpServer) echo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r.Header.Clone())
	s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.Path)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			w.Header().Add("Echo-"+k, v)
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "body=%s", body)
	io.WriteString(w, b.String())
}

func (s *httpServer) headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.seen...)
}

// ---- the tests ----

func TestNetRawTCP(t *testing.T) {
	srv := newEchoServer(t)
	rule := "tcp://127.0.0.1:" + srv.port

	t.Run("allowed", func(t *testing.T) {
		o := runNet(t, netCase{
			policy: "network {\n  allow = [\"" + rule + "\"]\n}",
			args:   []string{"echo", "127.0.0.1", srv.port, "hello over tcp"},
		})
		o.wantExit(t, 0)
		o.wantOut(t, "echo: hello over tcp", "peer: 127.0.0.1:"+srv.port)
		o.wantOne(t, true, "127.0.0.1:"+srv.port, `allow "`+rule+`"`, 9)
		if n := srv.accepts.Load(); n != 1 {
			t.Errorf("server accepted %d connections, want 1", n)
		}
		if st := host.NetStatsOf(nil); st != (host.NetStats{}) {
			t.Errorf("NetStatsOf(nil) = %+v", st)
		}
	})

	before := srv.accepts.Load()
	for _, c := range []struct {
		name, policy, rule string
		line               int
	}{
		{"no network block", "", `special address 127.0.0.1 (loopback) needs a rule naming it`, 0},
		{"default allow does not reach loopback", "network {\n  default = \"allow\"\n}", `special address 127.0.0.1 (loopback) needs a rule naming it`, 0},
		{"other port", "network {\n  allow = [\"tcp://127.0.0.1:1\"]\n}", `special address 127.0.0.1 (loopback) needs a rule naming it`, 0},
		{"deny wins", "network {\n  allow = [\"127.0.0.0/8\"]\n  deny = [\"" + rule + "\"]\n}", `deny "` + rule + `"`, 10},
		{"scheme must match", "network {\n  allow = [\"https://127.0.0.1:" + srv.port + "\"]\n}", `special address 127.0.0.1 (loopback) needs a rule naming it`, 0},
	} {
		t.Run("denied/"+c.name, func(t *testing.T) {
			o := runNet(t, netCase{policy: c.policy, args: []string{"echo", "127.0.0.1", srv.port, "x"}})
			o.wantExit(t, 1)
			o.wantOut(t, "denied", "permission")
			o.wantOne(t, false, "127.0.0.1:"+srv.port, c.rule, c.line)
		})
	}
	if n := srv.accepts.Load() - before; n != 0 {
		t.Errorf("the server accepted %d connections the policy denied", n)
	}
}

// An engine made with the zero Config has airlock's network functions: an
// embedder does not add them (runtime.Config.Net configures them). Without
// them the guest would not even instantiate (an unknown import).
func TestNetIsInstalledByDefault(t *testing.T) {
	eng, err := runtime.New(context.Background(), runtime.Config{CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	srv := newEchoServer(t)
	o := runNet(t, netCase{eng: eng,
		policy: "network {\n  allow = [\"tcp://127.0.0.1:" + srv.port + "\"]\n}",
		args:   []string{"echo", "127.0.0.1", srv.port, "from a default engine"},
	})
	o.wantExit(t, 0)
	o.wantOut(t, "echo: from a default engine")
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

func TestNetRebinding(t *testing.T) {
	srv := newEchoServer(t)
	// The name is allowed, but it resolves to loopback: denied.
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"tcp://rebind.test:" + srv.port + "\"]\n}",
		args:   []string{"echo", "rebind.test", srv.port, "x"},
	})
	o.wantExit(t, 1)
	o.wantOut(t, "denied")
	o.wantOne(t, false, "rebind.test:"+srv.port+" (127.0.0.1)", "special address 127.0.0.1 (loopback) needs a rule naming it", 0)
	if n := srv.accepts.Load(); n != 0 {
		t.Fatalf("server accepted %d connections through a rebinding name", n)
	}

	// A rule naming the address lets it through.
	o = runNet(t, netCase{
		policy: "network {\n  allow = [\"tcp://rebind.test:" + srv.port + "\", \"127.0.0.1\"]\n}",
		args:   []string{"echo", "rebind.test", srv.port, "rebound"},
	})
	o.wantExit(t, 0)
	o.wantOut(t, "echo: rebound")
	o.wantOne(t, true, "rebind.test:"+srv.port+" (127.0.0.1)", `allow "127.0.0.1"`, 9)
	if n := srv.accepts.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1", n)
	}
}

// Of several addresses, the host dials only one the policy allows.
func TestNetSeveralAddresses(t *testing.T) {
	srv := newEchoServer(t)
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"127.0.0.0/8\"]\n  deny = [\"127.0.0.2\"]\n}",
		args:   []string{"echo", "two.test", srv.port, "second"},
	})
	o.wantExit(t, 0)
	o.wantOut(t, "echo: second", "peer: 127.0.0.1:"+srv.port)
	o.wantOne(t, true, "two.test:"+srv.port+" (127.0.0.1)", `allow "127.0.0.0/8"`, 9)
}

func TestNetIPLiteralForms(t *testing.T) {
	srv := newEchoServer(t)
	forms := []string{"127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001", "127.000.000.001", "::ffff:127.0.0.1", "::ffff:7f00:1"}
	for _, f := range forms {
		t.Run(f, func(t *testing.T) {
			o := runNet(t, netCase{
				policy: "network {\n  default = \"allow\"\n}",
				args:   []string{"echo", f, srv.port, "x"},
			})
			o.wantExit(t, 1)
			o.wantOut(t, "denied")
			o.wantOne(t, false, "127.0.0.1:"+srv.port, "special address 127.0.0.1 (loopback) needs a rule naming it", 0)
		})
	}
	if n := srv.accepts.Load(); n != 0 {
		t.Fatalf("server accepted %d connections to a disguised loopback address", n)
	}
	// A rule naming the address, in yet another form, covers them all.
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"tcp://0x7f.0.0.1:" + srv.port + "\"]\n}",
		args:   []string{"echo", "2130706433", srv.port, "decimal"},
	})
	o.wantExit(t, 0)
	o.wantOut(t, "echo: decimal")
}

// ownAddress returns one of this machine's non-loopback interface
// addresses that a guest can dial, preferring one in no special range (so
// that only the machine's-own-address rule can deny it).
func ownAddress(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := host.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var fallback netip.Addr
	for _, a := range addrs {
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if _, special := policy.SpecialAddress(a); !special {
			return a
		}
		if !fallback.IsValid() {
			fallback = a
		}
	}
	if !fallback.IsValid() {
		t.Skip("this machine has no non-loopback address (see `ip addr`): nothing to test")
	}
	t.Logf("every non-loopback address of this machine is in a special range already; using %s", fallback)
	return fallback
}

// A service listening on every interface is reached through the machine's
// own address, which may be in no special range: that address is special
// all the same, like loopback. Under default = "allow" the server accepts
// nothing, whether the guest names the address or a name resolves there;
// a rule naming the address lets the tool through.
func TestNetOwnAddressIsSpecial(t *testing.T) {
	own := ownAddress(t)
	srv := newEchoServerOn(t, "0.0.0.0:0")
	if own.Is6() {
		srv = newEchoServerOn(t, "[::]:0")
	}
	host := own.String()
	target := net.JoinHostPort(host, srv.port)
	netResolver.mu.Lock()
	netResolver.names["myself.test"] = []netip.Addr{own}
	netResolver.mu.Unlock()
	rule := "special address " + host + " (this machine) needs a rule naming it"
	if kind, special := policy.SpecialAddress(own); special {
		rule = "special address " + host + " (" + kind + ") needs a rule naming it"
	}
	for _, c := range []struct{ name, policy, dial, target string }{
		{"default allow, the address", "network {\n  default = \"allow\"\n}", host, target},
		{"default allow, a name that resolves there", "network {\n  default = \"allow\"\n}", "myself.test", "myself.test:" + srv.port + " (" + host + ")"},
		{"a rule naming the host", "network {\n  allow = [\"tcp://myself.test:" + srv.port + "\"]\n}", "myself.test", "myself.test:" + srv.port + " (" + host + ")"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := runNet(t, netCase{policy: c.policy, args: []string{"echo", c.dial, srv.port, "x"}})
			o.wantExit(t, 1)
			o.wantOut(t, "denied")
			o.wantOne(t, false, c.target, rule, 0)
		})
	}
	if n := srv.accepts.Load(); n != 0 {
		t.Fatalf("the server on 0.0.0.0 accepted %d connections through %s", n, host)
	}
	allow := "tcp://" + target
	if own.Is6() {
		allow = "tcp://[" + host + "]:" + srv.port
	}
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"" + allow + "\"]\n}",
		args:   []string{"echo", host, srv.port, "to myself"},
	})
	o.wantExit(t, 0)
	o.wantOut(t, "echo: to myself")
	o.wantOne(t, true, target, `allow "`+allow+`"`, 9)
	if n := srv.accepts.Load(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1", n)
	}
}

// A name that no rule could allow is not even looked up: the lookup would
// carry it out.
func TestNetNoLookupWithoutARule(t *testing.T) {
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"https://api.example.com\"]\n}",
		args:   []string{"echo", "c2VjcmV0.exfil.test", "443", "x"},
	})
	o.wantExit(t, 1)
	o.wantOut(t, "denied")
	o.wantOne(t, false, "c2vjcmv0.exfil.test:443", `network.default = "deny"`, 0)
	if n := netResolver.count("c2vjcmv0.exfil.test") + netResolver.count("c2VjcmV0.exfil.test"); n != 0 {
		t.Fatalf("the host looked the name up %d times", n)
	}
}

func TestNetResolve(t *testing.T) {
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"127.0.0.0/8\"]\n  deny = [\"127.0.0.2\"]\n}",
		args:   []string{"resolve", "https", "two.test", "443"},
	})
	o.wantExit(t, 0)
	if !strings.Contains(o.out, "addr: 127.0.0.1\n") || strings.Contains(o.out, "127.0.0.2") {
		t.Fatalf("resolve output:\n%s", o.out)
	}
	if len(o.netDecisions()) != 0 {
		t.Errorf("resolve recorded decisions: %+v", o.netDecisions())
	}
	o = runNet(t, netCase{args: []string{"resolve", "https", "rebind.test", "443"}})
	o.wantExit(t, 1)
	o.wantOut(t, "denied")
}

func TestNetHTTP(t *testing.T) {
	srv := newHTTPServer(t, false, nil)
	url := "http://127.0.0.1:" + srv.port + "/hello"
	t.Run("allowed", func(t *testing.T) {
		o := runNet(t, netCase{
			policy: "network {\n  allow = [\"http://127.0.0.1:" + srv.port + "\"]\n}",
			args:   []string{"get", url},
		})
		o.wantExit(t, 0)
		o.wantOut(t, "status: 200", "body: GET /hello", "header: Echo-User-Agent: ")
		ds := o.netDecisions()
		if len(ds) != 1 || !ds[0].Allowed || ds[0].Op != decision.OpHTTP || ds[0].Target != "127.0.0.1:"+srv.port {
			t.Fatalf("decisions %+v", ds)
		}
	})
	t.Run("post streams the body", func(t *testing.T) {
		o := runNet(t, netCase{
			policy: "network {\n  allow = [\"http://127.0.0.1:" + srv.port + "\"]\n}",
			args:   []string{"post", url, "a body of some length"},
		})
		o.wantExit(t, 0)
		o.wantOut(t, "body: POST /hello", "body=a body of some length")
	})
	before := srv.conns.Load()
	t.Run("denied", func(t *testing.T) {
		o := runNet(t, netCase{
			policy: "network {\n  allow = [\"https://127.0.0.1:" + srv.port + "\"]\n}",
			args:   []string{"get", url},
		})
		o.wantExit(t, 1)
		o.wantOut(t, "denied")
		o.wantOne(t, false, "127.0.0.1:"+srv.port, "special address 127.0.0.1 (loopback) needs a rule naming it", 0)
	})
	t.Run("denied with a body", func(t *testing.T) {
		o := runNet(t, netCase{args: []string{"post", url, "never sent"}})
		o.wantExit(t, 1)
		o.wantOut(t, "denied")
	})
	if n := srv.conns.Load() - before; n != 0 {
		t.Fatalf("server saw %d connections the policy denied", n)
	}
}

func TestNetHTTPS(t *testing.T) {
	srv := newHTTPServer(t, true, nil)
	url := "https://secure.test:" + srv.port + "/tls"
	pol := "network {\n  allow = [\"https://secure.test:" + srv.port + "\", \"127.0.0.1\"]\n}"
	t.Run("host does TLS", func(t *testing.T) {
		o := runNet(t, netCase{policy: pol, args: []string{"get", url}})
		o.wantExit(t, 0)
		o.wantOut(t, "status: 200", "body: GET /tls")
		o.wantOne(t, true, "secure.test:"+srv.port+" (127.0.0.1)", `allow "127.0.0.1"`, 9)
	})
	t.Run("guest does TLS on the raw path", func(t *testing.T) {
		o := runNet(t, netCase{
			policy: pol,
			args:   []string{"rawget", url, "/work/ca.crt"},
			files:  map[string]string{"ca.crt": string(netCA().pem)},
		})
		o.wantExit(t, 0)
		o.wantOut(t, "status: 200", "body: GET /tls")
		ds := o.netDecisions()
		if len(ds) != 1 || !ds[0].Allowed || ds[0].Op != decision.OpConnect {
			t.Fatalf("decisions %+v", ds)
		}
	})
	before := srv.conns.Load()
	t.Run("denied", func(t *testing.T) {
		o := runNet(t, netCase{
			policy: "network {\n  allow = [\"https://secure.test:" + srv.port + "\"]\n}",
			args:   []string{"get", url},
		})
		o.wantExit(t, 1)
		o.wantOut(t, "denied")
	})
	if n := srv.conns.Load() - before; n != 0 {
		t.Fatalf("server saw %d connections the policy denied", n)
	}
}

// The acceptance test of invariant 5: a tool that prints everything it can
// reach never prints the credential the host adds for it.
func TestNetCredentialNeverReachesGuest(t *testing.T) {
	const secret = "s3cr3t-t0k3n-0123456789"
	srv := newHTTPServer(t, true, nil)
	url := "https://secure.test:" + srv.port + "/spy"
	o := runNet(t, netCase{
		policy: `network {
  allow = ["https://secure.test:` + srv.port + `", "127.0.0.1"]
}
env {
  pass = ["HOME"]
}
credential "test" {
  env = "AIRLOCK_TEST_TOKEN"
  hosts = ["secure.test"]
  header = "Authorization: Bearer {value}"
}`,
		args:  []string{"spy", url},
		env:   map[string]string{"AIRLOCK_TEST_TOKEN": secret, "HOME": "/home/someone"},
		files: map[string]string{"notes.txt": "nothing to see"},
	})
	o.wantExit(t, 0)
	// The guest printed its environment, its files, its request and the
	// echoed response...
	o.wantOut(t, "HOME=/home/someone", "/work/notes.txt: nothing to see", "guest-made-this-up",
		"header: Echo-Authorization: Bearer "+host.NetRedacted, "Authorization: Bearer "+host.NetRedacted)
	// ...and never the secret.
	if strings.Contains(o.out, secret) {
		t.Fatalf("the guest printed the secret:\n%s", o.out)
	}
	// The server did get it, in place of the guest's own header.
	hs := srv.headers()
	if len(hs) != 1 || hs[0].Get("Authorization") != "Bearer "+secret || len(hs[0]["Authorization"]) != 1 {
		t.Fatalf("server saw %v", hs)
	}
	var noted bool
	for _, d := range o.res.Decisions {
		if d.Kind == decision.NetCredential {
			noted = d.Allowed && d.Rule == `credential "test"` && strings.Contains(d.Target, "secure.test")
		}
	}
	if !noted {
		t.Errorf("no credential record in %+v", o.res.Decisions)
	}
}

func TestNetCredentialOnlyOverTLSAndToItsHosts(t *testing.T) {
	const secret = "plain-text-would-leak-this"
	plain := newHTTPServer(t, false, nil)
	creds := `
credential "test" {
  env = "AIRLOCK_TEST_TOKEN"
  hosts = ["secure.test"]
  header = "X-Token: {value}"
}`
	env := map[string]string{"AIRLOCK_TEST_TOKEN": secret}
	// Plain http to the credential's host: not added.
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"127.0.0.1\"]\n}" + creds,
		args:   []string{"get", "http://secure.test:" + plain.port + "/"},
		env:    env,
	})
	o.wantExit(t, 0)
	// Another host over TLS: not added either.
	tlsSrv := newHTTPServer(t, true, nil)
	o = runNet(t, netCase{
		policy: "network {\n  allow = [\"127.0.0.1\"]\n}" + creds,
		args:   []string{"get", "https://127.0.0.1:" + tlsSrv.port + "/"},
		env:    env,
	})
	o.wantExit(t, 0)
	for _, h := range append(plain.headers(), tlsSrv.headers()...) {
		if h.Get("X-Token") != "" {
			t.Fatalf("credential sent where it does not apply: %v", h)
		}
	}
	// A credential whose secret is missing is recorded, not sent.
	o = runNet(t, netCase{
		policy: "network {\n  allow = [\"127.0.0.1\"]\n}" + creds,
		args:   []string{"get", "https://secure.test:" + tlsSrv.port + "/"},
	})
	o.wantExit(t, 0)
	var missing bool
	for _, d := range o.res.Decisions {
		missing = missing || (d.Kind == decision.NetCredential && !d.Allowed && strings.Contains(d.Rule, "AIRLOCK_TEST_TOKEN is not set"))
	}
	if !missing {
		t.Errorf("no record of the missing secret: %+v", o.res.Decisions)
	}
}

// compress encodes b the way a server would for Content-Encoding enc;
// brotli uses the brotli command (.ci installs it).
func compress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	switch enc {
	case "gzip":
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
	case "deflate": // HTTP's "deflate" is the zlib format
		w := zlib.NewWriter(&out)
		w.Write(b)
		w.Close()
	case "br":
		cmd := exec.Command("brotli", "-c")
		cmd.Stdin = bytes.NewReader(b)
		res, err := cmd.Output()
		if err != nil {
			t.Fatalf("brotli: %v", err)
		}
		return res
	default:
		return b
	}
	return out.Bytes()
}

// decompress undoes compress; a body that is not in enc is returned as it is.
func decompress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch enc {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(b))
	case "br":
		cmd := exec.Command("brotli", "-d", "-c")
		cmd.Stdin = bytes.NewReader(b)
		res, err := cmd.Output()
		if err != nil {
			return b
		}
		return res
	default:
		return b
	}
	if err != nil {
		return b
	}
	res, err := io.ReadAll(r)
	if err != nil {
		return b
	}
	return res
}

// A server that echoes the credential back in a Content-Encoding the host
// did not ask for would hand the guest the secret compressed, where
// redaction cannot see it. On a request that carried a credential, such a
// response is refused (EPROTO, recorded); decoded by the host (gzip it
// asked for) or not encoded, it is redacted; without a credential it
// passes as it came. The check decodes whatever body reached the guest.
func TestNetCredentialEchoedCompressed(t *testing.T) {
	const secret = "s3cr3t-c0mpr3ss3d-0123456789"
	srv := newHTTPServer(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := r.URL.Query().Get("enc")
		// Repeated, so that every encoder compresses it for real (a short
		// body may be stored as it is, and then redaction would see it).
		body := compress(t, enc, []byte(strings.Repeat("your token: "+r.Header.Get("Authorization")+"\n", 16)))
		if enc != "" {
			w.Header().Set("Content-Encoding", enc)
		}
		w.Write(body)
	}))
	pol := `network {
  allow = ["127.0.0.1"]
}
credential "test" {
  env = "AIRLOCK_TEST_TOKEN"
  hosts = ["secure.test"]
  header = "Authorization: Bearer {value}"
}`
	for _, c := range []struct {
		name, host, enc string
		headers         []string
		refused         bool
	}{
		{name: "gzip the host did not ask for (the guest sent Range)", host: "secure.test", enc: "gzip", headers: []string{"Range: bytes=0-"}, refused: true},
		{name: "deflate", host: "secure.test", enc: "deflate", refused: true},
		{name: "br", host: "secure.test", enc: "br", refused: true},
		{name: "gzip the host asked for", host: "secure.test", enc: "gzip"},
		{name: "identity", host: "secure.test", enc: "identity"},
		{name: "not encoded", host: "secure.test"},
		{name: "br without a credential", host: "127.0.0.1", enc: "br"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.enc == "br" {
				if _, err := exec.LookPath("brotli"); err != nil {
					t.Skip("the brotli command is not installed (apt-get install brotli; .ci/setup-brotli.sh does)")
				}
			}
			url := "https://" + c.host + ":" + srv.port + "/echo?enc=" + c.enc
			o := runNet(t, netCase{policy: pol, args: append([]string{"fetch", url}, c.headers...),
				env: map[string]string{"AIRLOCK_TEST_TOKEN": secret}})
			var bodies []string
			for _, line := range strings.Split(o.out, "\n") {
				if b64, ok := strings.CutPrefix(line, "body64: "); ok {
					raw, err := base64.StdEncoding.DecodeString(b64)
					if err != nil {
						t.Fatalf("body64: %v", err)
					}
					bodies = append(bodies, string(decompress(t, c.enc, raw)))
				}
			}
			for _, b := range append(bodies, o.out) {
				if strings.Contains(b, secret) {
					t.Fatalf("the secret reached the guest:\n%s\ndecoded body:\n%q", o.out, bodies)
				}
			}
			var refusals []decision.Decision
			for _, d := range o.res.Decisions {
				if d.Kind == decision.NetCredential && d.Op == "response" {
					refusals = append(refusals, d)
				}
			}
			if c.refused {
				o.wantExit(t, 1)
				o.wantOut(t, "error: ")
				if len(bodies) != 0 {
					t.Errorf("a refused response reached the guest: %q", bodies)
				}
				if len(refusals) != 1 || refusals[0].Allowed || refusals[0].Errno != "EPROTO" ||
					refusals[0].Target != "Content-Encoding: "+c.enc+" from https://"+c.host+":"+srv.port {
					t.Errorf("refusal records %+v", refusals)
				}
				return
			}
			o.wantExit(t, 0)
			if len(refusals) != 0 || len(bodies) != 1 {
				t.Fatalf("refusals %+v, bodies %q\n%s", refusals, bodies, o.out)
			}
			want := "your token: Bearer " + host.NetRedacted
			if c.host == "127.0.0.1" {
				want = "your token: \n"
			}
			if !strings.Contains(bodies[0], want) {
				t.Errorf("body %q, want it to contain %q", bodies[0], want)
			}
		})
	}
}

func TestNetCredentialFromFile(t *testing.T) {
	srv := newHTTPServer(t, true, nil)
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("file-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := runNet(t, netCase{
		policy: `network {
  allow = ["127.0.0.1"]
}
credential "f" {
  file = "` + secretFile + `"
  hosts = ["secure.test"]
  header = "Authorization: token {value}"
}`,
		args: []string{"get", "https://secure.test:" + srv.port + "/"},
	})
	o.wantExit(t, 0)
	if strings.Contains(o.out, "file-secret-value") {
		t.Fatalf("guest saw the secret:\n%s", o.out)
	}
	if hs := srv.headers(); len(hs) != 1 || hs[0].Get("Authorization") != "token file-secret-value" {
		t.Fatalf("server saw %v", hs)
	}
}

type scriptedAsker struct {
	answer bool
	asked  atomic.Int64
}

func (a *scriptedAsker) Ask(ctx context.Context, r decision.Request) decision.Reply {
	a.asked.Add(1)
	return decision.Reply{Allowed: a.answer, Source: decision.SourceUser, Ended: decision.EndedAnswered}
}

// "ask" never reaches a special address: it is denied before anyone is
// asked, even when a name resolves there.
func TestNetAskNeverReachesSpecialAddresses(t *testing.T) {
	srv := newEchoServer(t)
	a := &scriptedAsker{answer: true}
	o := runNet(t, netCase{
		policy: "network {\n  default = \"ask\"\n}",
		args:   []string{"echo", "allowed.test", srv.port, "asked"},
		asker:  a,
	})
	o.wantExit(t, 1)
	o.wantOut(t, "denied")
	if a.asked.Load() != 0 || srv.accepts.Load() != 0 {
		t.Fatalf("asked %d times, server accepted %d", a.asked.Load(), srv.accepts.Load())
	}
}

// The run ending closes the connections it opened, and a guest blocked in
// a read is stopped at its wall-time limit.
func TestNetRunEndClosesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	closed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			closed <- err
			return
		}
		var b [1]byte
		_, err = c.Read(b[:]) // the guest never writes: this ends when the host closes
		closed <- err
		c.Close()
	}()
	start := time.Now()
	o := runNet(t, netCase{
		policy:  "network {\n  allow = [\"127.0.0.1\"]\n}",
		args:    []string{"hang", "127.0.0.1", port},
		timeout: "1s",
	})
	if o.res.Reason != runtime.Timeout {
		t.Fatalf("reason %s, want timeout\n%s", o.res.Reason, o.out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the run took %s to stop", d)
	}
	select {
	case err := <-closed:
		if err != io.EOF {
			t.Errorf("server read %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed open after the run ended")
	}
}

// Guest mistakes are errnos, never a crash of the host.
func TestNetBadArguments(t *testing.T) {
	o := runNet(t, netCase{policy: "network {\n  default = \"allow\"\n}", args: []string{"badargs"}})
	o.wantExit(t, 0)
	o.wantOut(t,
		"connect host past memory: 21\n", // EFAULT
		"connect host too long: 1\n",     // E2BIG
		"connect bad scheme: 28\n",       // EINVAL
		"connect bad port: 28\n",
		"connect handle past memory: 21\n",
		"read unknown handle: 8\n", // EBADF
		"http bad request line: 28\n",
		"http bad body length: 28\n",
		"http close unknown: 8\n",
	)
}

// The C example, built with clang and wasi-libc, speaks the same ABI.
func TestNetCExample(t *testing.T) {
	b, err := os.ReadFile("../../tools/sdk/c/example/fetch.wasm")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the host side\n")
	}))
	mod := runtime.NewModule("fetch", b)
	o := runNet(t, netCase{
		policy: "network {\n  allow = [\"tcp://127.0.0.1:" + srv.port + "\"]\n}",
		args:   []string{"127.0.0.1", srv.port, "/c"},
		module: mod,
	})
	o.wantExit(t, 0)
	o.wantOut(t, "HTTP/1.0 200 OK", "hello from the host side")
	o.wantOne(t, true, "127.0.0.1:"+srv.port, `allow "tcp://127.0.0.1:`+srv.port+`"`, 9)

	o = runNet(t, netCase{args: []string{"127.0.0.1", srv.port, "/c"}, module: mod})
	if o.res.ExitCode == 0 || !strings.Contains(o.out, "Permission denied") {
		t.Fatalf("denied C fetch: exit %d\n%s", o.res.ExitCode, o.out)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("server saw %d connections, want 1", n)
	}
}

// The committed fetch.wasm is what its source builds to, when clang for
// wasm32-wasi is installed (.ci/run installs it).
func TestNetCExampleIsCurrent(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed")
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil {
		t.Skip("wasi-libc not installed")
	}
	out := filepath.Join(t.TempDir(), "fetch.wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-Wl,--strip-all", "-I..", "-o", out, "fetch.c")
	cmd.Dir = "../../tools/sdk/c/example"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	built, _ := os.ReadFile(out)
	committed, _ := os.ReadFile("../../tools/sdk/c/example/fetch.wasm")
	if !bytes.Equal(built, committed) {
		t.Fatal("tools/sdk/c/example/fetch.wasm is stale: run `task c-example` and commit it")
	}
}
