package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// netMemoryModule is the smallest module with one page of memory, exported
// as "memory": the host functions read and write it like a guest's.
var netMemoryModule = []byte{
	0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00, // magic, version
	0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
	0x07, 0x0a, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // export "memory"
}

// netMemRuntime is one runtime with netMemoryModule compiled in it.
var netMemRuntime = sync.OnceValues(func() (wazero.Runtime, wazero.CompiledModule) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	cm, err := r.CompileModule(ctx, netMemoryModule)
	if err != nil {
		panic(err)
	}
	return r, cm
})

// newNetTestModule instantiates a module with one page of memory.
func newNetTestModule(t testing.TB) api.Module {
	t.Helper()
	r, cm := netMemRuntime()
	mod, err := r.InstantiateModule(context.Background(), cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close(context.Background()) })
	return mod
}

func TestNetMemBounds(t *testing.T) {
	m := netMemOf(newNetTestModule(t))
	const size = 65536
	for _, c := range []struct {
		ptr, n, max uint32
		want        netErrno
	}{
		{0, 0, 10, netOK},
		{size, 0, 10, netOK},
		{size + 1, 0, 10, netEFAULT},
		{size - 1, 1, 10, netOK},
		{size - 1, 2, 10, netEFAULT},
		{0xffffffff, 2, 10, netEFAULT}, // ptr+n overflows 32 bits
		{0, 11, 10, netE2BIG},
		{0, size, size, netOK},
	} {
		if _, e := m.view(c.ptr, c.n, c.max); e != c.want {
			t.Errorf("view(%d, %d, %d) = %s, want %s", c.ptr, c.n, c.max, e, c.want)
		}
	}
	if e := m.putU32(size-4, 7); e != netOK {
		t.Errorf("putU32 at the end: %s", e)
	}
	if e := m.putU32(size-3, 7); e != netEFAULT {
		t.Errorf("putU32 past the end: %s", e)
	}
	if e := m.put(size-2, []byte("abc")); e != netEFAULT {
		t.Errorf("put past the end: %s", e)
	}
	if _, e := (netMem{}).view(0, 0, 0); e != netEFAULT {
		t.Errorf("no memory: %s", e)
	}
	if b, e := m.ioView(0, 1<<31); e != netEFAULT || b != nil {
		t.Errorf("ioView of a huge length is cut, then checked: %s", e)
	}
}

func TestParseNetRequest(t *testing.T) {
	method, u, h, e := parseNetRequest("POST https://api.example.com/a?b=c\r\nAuthorization: Bearer x\r\nX-A: 1\r\nX-A:2\r\nHost: evil.example\r\nContent-Length: 99\r\nAccept-Encoding: gzip\r\n\r\n")
	if e != netOK || method != "POST" || u.String() != "https://api.example.com/a?b=c" {
		t.Fatalf("got %s %v %s", method, u, e)
	}
	if got := h["X-A"]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("X-A = %q", got)
	}
	if h.Get("Host") != "" || h.Get("Content-Length") != "" {
		t.Errorf("hop-by-hop headers kept: %v", h)
	}
	// A guest-chosen encoding would hide an echoed secret from redaction.
	if h.Get("Accept-Encoding") != "" {
		t.Errorf("the guest's Accept-Encoding was kept: %v", h)
	}
	for _, bad := range []string{
		"",
		"GET",
		"GET /relative",
		"GET ftp://example.com/",
		"GET http://user:pw@example.com/",
		"GET http://example.com/ HTTP/1.1",
		"G(T http://example.com/",
		"GET http:///nohost",
		"GET http://example.com/\r\nNo-Colon\r\n",
		"GET http://example.com/\r\nBad Name: x\r\n",
		"GET http://example.com/\r\nX: a\x00b\r\n",
		"GET http://example.com/\r\nX: a\nInjected: b\r\n",
		"GET http://example.com/\r\n\r\ntrailing",
	} {
		if _, _, _, e := parseNetRequest(bad); e != netEINVAL {
			t.Errorf("parseNetRequest(%q) = %s, want EINVAL", bad, e)
		}
	}
}

func TestNetRedactor(t *testing.T) {
	secrets := []string{"hunter2-secret", "tok"}
	in := "a hunter2-secret here, hunter2-secrethunter2-secret, tokens, half hunter2-sec, end tok"
	want := in
	for _, s := range secrets {
		want = strings.ReplaceAll(want, s, NetRedacted)
	}
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(in) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
	} {
		got, err := io.ReadAll(newNetRedactor(r(), secrets))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v\nwant %q", name, got, err, want)
		}
	}
	// A secret's prefix at the very end is released at EOF.
	got, _ := io.ReadAll(iotest.OneByteReader(newNetRedactor(strings.NewReader("ends with hunter2-sec"), secrets)))
	if string(got) != "ends with hunter2-sec" {
		t.Errorf("tail: %q", got)
	}
	// Errors pass through.
	_, err := io.ReadAll(newNetRedactor(iotest.ErrReader(io.ErrUnexpectedEOF), secrets))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error: %v", err)
	}
	if s := netRedactString("Bearer hunter2-secret", secrets); s != "Bearer "+NetRedacted {
		t.Errorf("netRedactString: %q", s)
	}
}

func TestNetCapped(t *testing.T) {
	b, err := io.ReadAll(&netCapped{r: strings.NewReader("0123456789"), left: 10})
	if err != nil || string(b) != "0123456789" {
		t.Errorf("exactly the limit: %q %v", b, err)
	}
	b, err = io.ReadAll(&netCapped{r: strings.NewReader("0123456789x"), left: 10})
	if !errors.Is(err, errNetTooLarge) || string(b) != "0123456789" {
		t.Errorf("past the limit: %q %v", b, err)
	}
	if netErrnoOf(err) != netEFBIG {
		t.Errorf("errno %s", netErrnoOf(err))
	}
}

func TestNetPump(t *testing.T) {
	ctx := context.Background()
	a, b := net.Pipe()
	p := newNetPump(a)
	defer p.close()
	buf := make([]byte, 8)
	if _, e := p.read(ctx, buf, 0); e != netEAGAIN {
		t.Fatalf("nothing sent, no wait: %s", e)
	}
	start := time.Now()
	if _, e := p.read(ctx, buf, 20); e != netEAGAIN || time.Since(start) < 15*time.Millisecond {
		t.Fatalf("nothing sent, 20ms: %s after %s", e, time.Since(start))
	}
	go b.Write([]byte("hello, pump"))
	n, e := p.read(ctx, buf, -1)
	if e != netOK || string(buf[:n]) != "hello, p" {
		t.Fatalf("read %q %s", buf[:n], e)
	}
	n, e = p.read(ctx, buf, 0)
	if e != netOK || string(buf[:n]) != "ump" {
		t.Fatalf("rest %q %s", buf[:n], e)
	}
	b.Close()
	if n, e := p.read(ctx, buf, -1); e != netOK || n != 0 {
		t.Fatalf("end of stream: %d %s", n, e)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c, _ := net.Pipe()
	q := newNetPump(c)
	defer q.close()
	if _, e := q.read(cctx, buf, -1); e != netECANCELED {
		t.Fatalf("cancelled: %s", e)
	}
}

type netTestResolver map[string][]netip.Addr

func (r netTestResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func netTestPolicy(t *testing.T, network string) *policy.Policy {
	t.Helper()
	p, diags := policy.Parse([]byte(network), "net.hcl", policy.LayerProject, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return p
}

// newNetTestRun is one run's network state, as a host function finds it.
func newNetTestRun(t *testing.T, p *policy.Policy, asker decision.Asker, names netTestResolver) (*netRun, *Run) {
	t.Helper()
	e := &netEngine{resolver: names, maxResponse: DefaultMaxResponse, dialTimeout: 50 * time.Millisecond, local: newLocalAddrs()}
	r := &Run{Gate: NewGate(context.Background(), asker, nil), Policy: p, Values: map[any]any{}}
	s, errno := e.state(WithRun(context.Background(), r))
	if errno != netOK {
		t.Fatal(errno)
	}
	t.Cleanup(r.Close)
	return s, r
}

// An "ask" verdict goes to the gate's asker; a "no" stops the dial before
// any packet leaves.
func TestNetAskGoesToTheAsker(t *testing.T) {
	p := netTestPolicy(t, "network {\n  default = \"ask\"\n}")
	names := netTestResolver{"ask.test": {netip.MustParseAddr("192.0.2.1")}}
	for _, yes := range []bool{false, true} {
		var asked []decision.Request
		asker := askerFunc(func(_ context.Context, r decision.Request) (bool, decision.Source) {
			asked = append(asked, r)
			return yes, decision.SourceUser
		})
		s, r := newNetTestRun(t, p, asker, names)
		_, _, err := s.dial(context.Background(), decision.OpConnect, "tcp", "ask.test", 9, 0)
		if len(asked) != 1 || asked[0].Target != "ask.test:9 (192.0.2.1)" || asked[0].Policy != policy.Ask {
			t.Fatalf("asked %+v", asked)
		}
		ds := r.Gate.Decisions()
		if len(ds) != 1 || ds[0].Allowed != yes || ds[0].Source != decision.SourceUser || ds[0].Rule != `network.default = "ask"` {
			t.Fatalf("decisions %+v", ds)
		}
		if !yes && netErrnoOf(err) != netEACCES {
			t.Fatalf("a no: %v", err)
		}
		if yes && netErrnoOf(err) == netEACCES {
			t.Fatalf("a yes was refused: %v", err) // the dial itself fails: 192.0.2.1 is unreachable
		}
	}
}

func TestMayResolve(t *testing.T) {
	d := func(host string) policy.Dest { return policy.Dest{Scheme: "https", Host: host, Port: 443} }
	for _, c := range []struct {
		network string
		host    string
		want    bool
	}{
		{"", "example.com", false},
		{"network {\n  allow = [\"https://api.example.com\"]\n}", "api.example.com", true},
		{"network {\n  allow = [\"https://api.example.com\"]\n}", "leak.example.com", false},
		{"network {\n  allow = [\"https://*.example.com\"]\n}", "any.example.com", true},
		{"network {\n  allow = [\"10.0.0.0/8\"]\n}", "anything.test", true},
		{"network {\n  default = \"allow\"\n  deny = [\"*.evil.test\"]\n}", "x.evil.test", false},
		{"network {\n  default = \"ask\"\n}", "x.test", true},
	} {
		p := netTestPolicy(t, c.network)
		dec, ok := mayResolve(p, d(c.host))
		if ok != c.want {
			t.Errorf("%q, %s: %v, want %v", c.network, c.host, ok, c.want)
		}
		if !ok && dec.Verdict != policy.Deny {
			t.Errorf("%q, %s: not resolved, but the decision is %v", c.network, c.host, dec)
		}
	}
}

func TestRunOnClose(t *testing.T) {
	r := &Run{}
	var order []int
	r.OnClose(func() { order = append(order, 1) })
	r.OnClose(func() { order = append(order, 2) })
	r.Close()
	r.Close()
	r.OnClose(func() { order = append(order, 3) })
	if len(order) != 3 || order[0] != 2 || order[1] != 1 || order[2] != 3 {
		t.Fatalf("order %v", order)
	}
}

// Every function of the ABI answers any arguments with an errno: fuzz the
// decoding of all of them against a real module's memory. Two calls per
// input, so that the second may use a handle the first opened. The policy
// denies everything, so nothing ever leaves the machine.
//
//	go test -run '^$' -fuzz FuzzNetArgs ./internal/host
func FuzzNetArgs(f *testing.F) {
	req := []byte("GET http://127.0.0.1:9/ HTTP\r\nX: y\r\n")
	good := []byte("GET http://127.0.0.1:9/\r\nX-A: b\r\n")
	f.Add(uint8(7), uint64(0), uint64(len(good)), uint64(0), uint64(0), uint64(64), uint64(0), uint64(0), good)
	f.Add(uint8(7|10<<4), uint64(0), uint64(len(good)), uint64(0xffffffffffffffff), uint64(50), uint64(64), uint64(128), uint64(512), good)
	f.Add(uint8(7|8<<4), uint64(0), uint64(len(good)), uint64(5), uint64(50), uint64(64), uint64(128), uint64(512), good)
	f.Add(uint8(1), uint64(0), uint64(9), uint64(80), uint64(0), uint64(10), uint64(64), uint64(0), []byte("127.0.0.1"))
	f.Add(uint8(0), uint64(0), uint64(11), uint64(443), uint64(2), uint64(100), uint64(100), uint64(300), []byte("example.com"))
	f.Add(uint8(2), uint64(1), uint64(65536), uint64(0xffffffff), uint64(0), uint64(65535), uint64(0), uint64(0), req)
	f.Add(uint8(11), uint64(1), uint64(0xffffffff), uint64(0xfffffffe), uint64(0xffffffff), uint64(0), uint64(0), uint64(0), []byte{})

	e := &netEngine{resolver: netTestResolver{}, maxResponse: 1 << 20, dialTimeout: 50 * time.Millisecond, local: newLocalAddrs()}
	table := e.table()
	f.Fuzz(func(t *testing.T, fn uint8, a0, a1, a2, a3, a4, a5, a6 uint64, mem []byte) {
		mod := newNetTestModule(t)
		mod.Memory().Write(0, mem[:min(len(mem), 65536)])
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := &Run{Gate: NewGate(ctx, nil, nil), Policy: &policy.Policy{}, Values: map[any]any{}}
		defer r.Close()
		ctx = WithRun(ctx, r)
		args := []uint64{a0, a1, a2, a3, a4, a5, a6}
		for _, pick := range []uint8{fn & 15, fn >> 4} {
			f := table[int(pick)%len(table)]
			stack := make([]uint64, len(f.params))
			for i := range stack {
				stack[i] = args[i]
				if !f.i64s[f.params[i]] {
					stack[i] = uint64(uint32(args[i]))
				}
			}
			if f.name == "read" || f.name == "http_read" || f.name == "http_response" || f.name == "connect" {
				// Bound the waits: a fuzzer has no time for a long timeout.
				for i, p := range f.params {
					if p == "timeout_ms" && (int32(stack[i]) > 100 || int32(stack[i]) < 0) {
						stack[i] = 100
					}
				}
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						// Only a call that outlived the input's context stops
						// the guest (and panics here): that is a hang.
						t.Fatalf("%s(%v) did not return within 5s: %v", f.name, stack, p)
					}
				}()
				e.goFunc(f).Call(ctx, mod, stack)
			}()
			if _, known := netErrnoNames[netErrno(stack[0])]; !known {
				t.Fatalf("%s returned unknown errno %d", f.name, stack[0])
			}
		}
		for _, d := range r.Gate.Decisions() {
			if d.Allowed {
				t.Fatalf("a deny-all policy allowed %+v", d)
			}
		}
	})
}

// The errno names cover what the functions return.
func TestNetErrnoNames(t *testing.T) {
	var b bytes.Buffer
	for e := netErrno(0); e < 80; e++ {
		b.WriteString(e.String())
	}
	if !strings.Contains(b.String(), "EACCES") || !strings.Contains(b.String(), "errno(79)") {
		t.Fatal(b.String())
	}
}

// The machine's own addresses are read again once they are older than
// localAddrsMaxAge, never kept for ever; when they cannot be read, every
// address counts as the machine's own (the policy then needs a rule
// naming it).
func TestLocalAddrsRefreshAndFailClosed(t *testing.T) {
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")
	current := []netip.Addr{a}
	var readErr error
	reads := 0
	l := &localAddrs{now: func() time.Time { return now }, read: func() ([]netip.Addr, error) {
		reads++
		return current, readErr
	}}
	if !l.has(a) || l.has(b) || reads != 1 {
		t.Fatalf("first read: has(a)=%v has(b)=%v reads=%d", l.has(a), l.has(b), reads)
	}
	current = []netip.Addr{a, b} // an address comes up
	now = now.Add(localAddrsMaxAge / 2)
	if l.has(b) || reads != 1 {
		t.Fatalf("within the age: has(b)=%v reads=%d", l.has(b), reads)
	}
	now = now.Add(localAddrsMaxAge)
	if !l.has(b) || reads != 2 {
		t.Fatalf("after the age: has(b)=%v reads=%d", l.has(b), reads)
	}
	if !l.has(netip.MustParseAddr("::ffff:192.0.2.7")) {
		t.Error("an IPv4-mapped form of an own address is not recognised")
	}
	readErr = errors.New("no netlink")
	now = now.Add(localAddrsMaxAge)
	if !l.has(netip.MustParseAddr("8.8.8.8")) {
		t.Error("with the addresses unreadable, an address was judged not the machine's own")
	}
	// The real interfaces: loopback is among them.
	addrs, err := InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range addrs {
		found = found || x == netip.MustParseAddr("127.0.0.1") || x == netip.IPv6Loopback()
	}
	if !found {
		t.Errorf("InterfaceAddrs = %v, without loopback", addrs)
	}
}

func TestNetUnaskedEncoding(t *testing.T) {
	for _, c := range []struct {
		values []string
		want   string
	}{
		{nil, ""},
		{[]string{"identity"}, ""},
		{[]string{" Identity , "}, ""},
		{[]string{"br"}, "br"},
		{[]string{"identity, gzip"}, "identity, gzip"},
		{[]string{"gzip", "br"}, "gzip, br"},
		{[]string{"x-custom"}, "x-custom"},
	} {
		h := http.Header{}
		for _, v := range c.values {
			h.Add("Content-Encoding", v)
		}
		if got := netUnaskedEncoding(h); got != c.want {
			t.Errorf("%q: %q, want %q", c.values, got, c.want)
		}
	}
}

// askerFunc answers each question with what the function says.
type askerFunc func(context.Context, decision.Request) (bool, decision.Source)

func (a askerFunc) Ask(ctx context.Context, r decision.Request) decision.Reply {
	ok, src := a(ctx, r)
	return decision.Reply{Allowed: ok, Source: src, Ended: decision.EndedAnswered}
}
