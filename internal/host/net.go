package host

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/policy"
)

// NetModule is the import module of airlock's network ABI, version 1. The
// functions, their arguments and their errnos are documented in
// docs/network-abi.md; a change that breaks a guest gets a new module name.
const NetModule = "airlock_net_v1"

// Resolver resolves host names for the network host functions.
// *net.Resolver implements it; tests give a resolver of their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// NetConfig configures the network host functions of an engine. The zero
// value is ready to use.
type NetConfig struct {
	// Resolver resolves the names guests connect to; net.DefaultResolver
	// if nil. The host resolves every name itself and dials exactly the
	// address it checked against the policy.
	Resolver Resolver
	// RootCAs verifies servers on the HTTP path, where the host does TLS;
	// the system's roots if nil.
	RootCAs *x509.CertPool
	// MaxResponse is the largest response body, in bytes, that the HTTP
	// path hands a guest; DefaultMaxResponse if 0. A longer body is cut
	// there and the next http_read fails with EFBIG.
	MaxResponse int64
	// DialTimeout bounds a connection attempt when the guest gives no
	// timeout; DefaultDialTimeout if 0. The run's wall time bounds it too.
	DialTimeout time.Duration
}

const (
	// DefaultMaxResponse is NetConfig.MaxResponse when it is 0.
	DefaultMaxResponse = 1 << 30
	// DefaultDialTimeout is NetConfig.DialTimeout when it is 0.
	DefaultDialTimeout = 30 * time.Second
	// netMaxHandles bounds the connections and HTTP exchanges a run may
	// have open at once (EMFILE beyond).
	netMaxHandles = 64
)

// NetStats counts what a run did on the network.
type NetStats struct {
	Connections int64 `json:"connections"` // connections made (raw and HTTP)
	Requests    int64 `json:"requests"`    // HTTP requests started
	BytesIn     int64 `json:"bytes_in"`    // bytes handed to the guest
	BytesOut    int64 `json:"bytes_out"`   // bytes the guest sent
}

// NetStatsOf returns the network counters of run r (zero if it used none).
func NetStatsOf(r *Run) NetStats {
	if r == nil {
		return NetStats{}
	}
	s, _ := r.value(netKey{}).(*netRun)
	if s == nil {
		return NetStats{}
	}
	return NetStats{
		Connections: s.conns.Load(), Requests: s.requests.Load(),
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
	}
}

// netEngine is the engine-level part of the network functions: immutable,
// shared by every run.
type netEngine struct {
	resolver    Resolver
	rootCAs     *x509.CertPool
	maxResponse int64
	dialTimeout time.Duration
	local       *localAddrs // this machine's own addresses, special to the policy
}

// NetFuncs returns the host functions of module NetModule, for
// runtime.Config.HostFuncs. Each run gets its own connections, HTTP
// transport and counters (created on its first network call, closed when
// the run ends); cfg is shared by all.
func NetFuncs(cfg NetConfig) []Func {
	e := &netEngine{resolver: cfg.Resolver, rootCAs: cfg.RootCAs,
		maxResponse: cfg.MaxResponse, dialTimeout: cfg.DialTimeout, local: newLocalAddrs()}
	if e.resolver == nil {
		e.resolver = net.DefaultResolver
	}
	if e.maxResponse <= 0 {
		e.maxResponse = DefaultMaxResponse
	}
	if e.dialTimeout <= 0 {
		e.dialTimeout = DefaultDialTimeout
	}
	return e.funcs()
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// netFunc is one function of the ABI: its parameters (all i32 unless
// named in i64s) and its body, which returns the errno.
type netFunc struct {
	name   string
	params []string
	i64s   map[string]bool
	fn     func(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno
}

// netArgs are a call's raw arguments.
type netArgs []uint64

func (a netArgs) u32(i int) uint32 { return api.DecodeU32(a[i]) }
func (a netArgs) i32(i int) int32  { return api.DecodeI32(a[i]) }
func (a netArgs) i64(i int) int64  { return int64(a[i]) }

func (e *netEngine) table() []netFunc {
	return []netFunc{
		{name: "resolve", params: []string{"name_ptr", "name_len", "port", "scheme", "out_ptr", "out_cap", "out_len_ptr"}, fn: netResolve},
		{name: "connect", params: []string{"host_ptr", "host_len", "port", "scheme", "timeout_ms", "handle_ptr"}, fn: netConnect},
		{name: "read", params: []string{"handle", "buf_ptr", "buf_len", "timeout_ms", "n_ptr"}, fn: netRead},
		{name: "write", params: []string{"handle", "buf_ptr", "buf_len", "timeout_ms", "n_ptr"}, fn: netWrite},
		{name: "shutdown", params: []string{"handle", "how"}, fn: netShutdown},
		{name: "close", params: []string{"handle"}, fn: netClose},
		{name: "peer_addr", params: []string{"handle", "out_ptr", "out_cap", "out_len_ptr"}, fn: netPeerAddr},
		{name: "http_request", params: []string{"req_ptr", "req_len", "body_len", "timeout_ms", "handle_ptr"},
			i64s: map[string]bool{"body_len": true}, fn: netHTTPRequest},
		{name: "http_body_write", params: []string{"handle", "buf_ptr", "buf_len", "n_ptr"}, fn: netHTTPBodyWrite},
		{name: "http_body_close", params: []string{"handle"}, fn: netHTTPBodyClose},
		{name: "http_response", params: []string{"handle", "timeout_ms", "status_ptr", "headers_ptr", "headers_cap", "headers_len_ptr"}, fn: netHTTPResponse},
		{name: "http_read", params: []string{"handle", "buf_ptr", "buf_len", "timeout_ms", "n_ptr"}, fn: netHTTPRead},
		{name: "http_close", params: []string{"handle"}, fn: netHTTPClose},
	}
}

func (e *netEngine) funcs() []Func {
	var out []Func
	for _, f := range e.table() {
		types := make([]api.ValueType, len(f.params))
		for i, p := range f.params {
			types[i] = i32
			if f.i64s[p] {
				types[i] = i64
			}
		}
		out = append(out, Func{Module: NetModule, Name: f.name, Params: types, ParamNames: f.params,
			Results: []api.ValueType{i32}, Fn: e.goFunc(f)})
	}
	return out
}

// goFunc adapts f to wazero: it finds the run's network state and stores
// f's errno as the call's one result.
func (e *netEngine) goFunc(f netFunc) api.GoModuleFunction {
	n := len(f.params)
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		if len(stack) < n {
			return // wazero gives every declared parameter; nothing to do otherwise
		}
		s, errno := e.state(ctx)
		if errno == netOK {
			errno = f.fn(ctx, netMemOf(mod), s, netArgs(stack[:n]))
		}
		if err := ctx.Err(); err != nil {
			// The run is over (wall time, cancellation) while the guest
			// waited here: it gets no errno to act on, it stops, as
			// proc_exit stops it.
			code := uint32(sys.ExitCodeContextCanceled)
			if errors.Is(err, context.DeadlineExceeded) {
				code = sys.ExitCodeDeadlineExceeded
			}
			if mod != nil {
				_ = mod.CloseWithExitCode(ctx, code)
			}
			panic(sys.NewExitError(code))
		}
		stack[0] = uint64(errno)
	})
}

type netKey struct{}

// state returns the network state of the run in ctx, made on first use.
// Outside a run nothing is reachable (ENOTCAPABLE).
func (e *netEngine) state(ctx context.Context) (*netRun, netErrno) {
	r := RunFrom(ctx)
	if r == nil || r.Gate == nil {
		return nil, netENOTCAPABLE
	}
	made := false
	s := r.Value(netKey{}, func() any {
		made = true
		s := &netRun{eng: e, run: r, pol: r.Policy, handles: map[uint32]netHandle{}}
		if s.pol == nil {
			s.pol = &policy.Policy{} // no network, no credentials
		}
		s.creds = s.pol.Credentials
		return s
	}).(*netRun)
	if !made {
		return s, netOK
	}
	r.OnClose(s.closeAll)
	// When the run's context ends (wall time, cancellation), close every
	// connection at once: that ends any host call blocked on one, so an
	// interrupted guest returns promptly. (Every thread's context ends
	// with the run's: none is cancelled on its own.)
	stop := context.AfterFunc(ctx, s.closeAll)
	r.OnClose(func() { stop() })
	return s, netOK
}

// netRun is one run's network state.
type netRun struct {
	eng   *netEngine
	run   *Run
	pol   *policy.Policy // decides with CheckNetwork: the managed ceiling, then the policy
	creds []policy.Credential

	conns, requests, bytesIn, bytesOut atomic.Int64

	mu        sync.Mutex
	handles   map[uint32]netHandle
	last      uint32
	closed    bool
	transport *http.Transport
	secrets   map[int]netSecret // by index in creds, read once per run
}

// netHandle is an open connection or HTTP exchange.
type netHandle interface {
	close()
}

// add registers h and returns its handle number, or EMFILE.
func (s *netRun) add(h netHandle) (uint32, netErrno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, netECANCELED
	}
	if len(s.handles) >= netMaxHandles {
		return 0, netEMFILE
	}
	for {
		s.last++
		if s.last == 0 {
			s.last = 1
		}
		if _, used := s.handles[s.last]; !used {
			break
		}
	}
	s.handles[s.last] = h
	return s.last, netOK
}

func (s *netRun) get(h uint32) netHandle {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handles[h]
}

func (s *netRun) remove(h uint32) netHandle {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.handles[h]
	delete(s.handles, h)
	return x
}

// closeAll closes every handle and the HTTP transport; later calls that
// would open one fail. It runs when the run ends or its context does.
func (s *netRun) closeAll() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	hs := s.handles
	s.handles = map[uint32]netHandle{}
	t := s.transport
	s.mu.Unlock()
	for _, h := range hs {
		h.close()
	}
	if t != nil {
		t.CloseIdleConnections()
	}
}

// timeoutOf turns the ABI's timeout_ms into a duration; 0 means none.
func timeoutOf(ms int32) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
