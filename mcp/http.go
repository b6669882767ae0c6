package mcp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPPath is where the Streamable HTTP endpoint is served. MCP clients
// (the Inspector among them) take a URL ending in /mcp for Streamable HTTP.
const HTTPPath = "/mcp"

// HTTPOptions configures the Streamable HTTP endpoint.
type HTTPOptions struct {
	// Token, if not empty, is the bearer token every request must carry
	// (Authorization: Bearer TOKEN). It is compared in constant time.
	Token string
	// AllowRemote lifts the loopback-only Host check, for a server bound to
	// a non-loopback address on purpose. It requires a Token: without the
	// Host check, the token is what keeps a rebinding page out.
	AllowRemote bool
}

// callHeader carries, from the HTTP layer to the tool handler, a key under
// which the HTTP request's context is registered, so that a client that
// disconnects in the middle of a call stops its tool (see disconnects).
// Whatever a client sends under this name is replaced.
const callHeader = "X-Airlock-Call"

// Handler returns the Streamable HTTP handler for s: the MCP endpoint at
// HTTPPath behind the Host, Origin and token checks. It fails when
// AllowRemote is set without a Token.
func (s *Server) Handler(opts HTTPOptions) (http.Handler, error) {
	if opts.AllowRemote && opts.Token == "" {
		return nil, errors.New("serving beyond loopback needs a bearer token (--token-file)")
	}
	getServer := func(*http.Request) *sdk.Server { return s.sdk }
	so := sdk.StreamableHTTPOptions{
		Logger: slog.New(minLevel{s.log.Handler(), slog.LevelWarn}),
		// Requests on protocol 2026-07-28 are one POST each: its end
		// cancels the call. Older protocols are covered by disconnects.
		PropagateRequestCancellation: true,
		// A client that vanishes without ending its session does not
		// leave it behind for ever.
		SessionTimeout: time.Hour,
		// The SDK's own rebinding check (DisableLocalhostProtection
		// false) stays on under ours.
	}
	stateful := sdk.NewStreamableHTTPHandler(getServer, &so)
	so.Stateless = true
	stateless := sdk.NewStreamableHTTPHandler(getServer, &so)
	h := byProtocol{modern: stateless, legacy: stateful}
	g := &guard{opts: opts, next: h, disc: &s.disc, log: s.log}
	if opts.Token != "" {
		sum := sha256.Sum256([]byte(opts.Token))
		g.tokenSum = sum[:]
	}
	mux := http.NewServeMux()
	mux.Handle(HTTPPath, g)
	return mux, nil
}

// byProtocol sends requests on protocol 2026-07-28 and later to the SDK's
// stateless handler, and older ones to its stateful handler. The SDK serves
// the new protocol over HTTP only statelessly, and a stateless handler
// cannot send an older client an elicitation or a list_changed
// notification, which need the session; routing by the request's
// MCP-Protocol-Version header serves both generations in full.
type byProtocol struct{ modern, legacy http.Handler }

func (b byProtocol) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Mcp-Protocol-Version") >= protocolMRTR {
		b.modern.ServeHTTP(w, r)
		return
	}
	b.legacy.ServeHTTP(w, r)
}

// guard applies the Host, Origin and token checks, then registers the
// request's context for disconnect detection.
type guard struct {
	opts     HTTPOptions
	tokenSum []byte
	next     http.Handler
	disc     *disconnects
	log      *slog.Logger
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.opts.AllowRemote && !loopbackHost(r.Host) {
		g.refuse(w, r, http.StatusForbidden, fmt.Sprintf("Host %q is not localhost, 127.0.0.1 or [::1] (DNS rebinding protection)", r.Host))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !sameHost(o, r.Host, r.TLS != nil) {
		g.refuse(w, r, http.StatusForbidden, fmt.Sprintf("Origin %q is not this server (%s)", o, r.Host))
		return
	}
	if g.tokenSum != nil && !g.tokenOK(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="airlock"`)
		g.refuse(w, r, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if r.Method == http.MethodPost {
		key, done := g.disc.register(r.Context())
		defer done()
		r = r.Clone(r.Context())
		r.Header.Set(callHeader, key)
	} else {
		r = r.Clone(r.Context())
		r.Header.Del(callHeader)
	}
	g.next.ServeHTTP(w, r)
}

func (g *guard) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	g.log.Warn("mcp: refused HTTP request", "remote", r.RemoteAddr, "status", code, "why", why)
	http.Error(w, "airlock: "+why, code)
}

// tokenOK compares the request's bearer token with the configured one in
// constant time: both are hashed first, so neither the length nor a prefix
// of the token leaks through timing.
func (g *guard) tokenOK(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum) == 1
}

// loopbackHost reports whether a Host header names this machine by one of
// the loopback names a local client uses: localhost, 127.0.0.1 or [::1],
// with or without a port.
func loopbackHost(host string) bool {
	h := hostOnly(host)
	switch strings.ToLower(h) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// hostOnly strips the port from a Host header value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// sameHost reports whether origin (scheme://host[:port]) names the same
// host and port as the request's Host header. "null" and anything that is
// not an http(s) URL never match.
func sameHost(origin, host string, tls bool) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	return strings.EqualFold(withPort(u.Host, u.Scheme == "https"), withPort(host, tls))
}

func withPort(hostport string, https bool) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	port := "80"
	if https {
		port = "443"
	}
	return net.JoinHostPort(hostOnly(hostport), port)
}

// Listen opens a TCP listener for the HTTP endpoint. addr must name a
// loopback address (127.0.0.1:PORT, [::1]:PORT, localhost:PORT) unless
// allowRemote is set; an empty host means every interface and is refused
// likewise.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP address %q: %w (want HOST:PORT, e.g. 127.0.0.1:8765)", addr, err)
	}
	if !allowRemote {
		ip := net.ParseIP(host)
		switch {
		case strings.EqualFold(host, "localhost"):
			addr = net.JoinHostPort("127.0.0.1", port)
		case ip != nil && ip.IsLoopback():
		default:
			return nil, fmt.Errorf("refusing to serve MCP on %q: not a loopback address (use 127.0.0.1:%s, or --allow-remote with --token-file)", addr, port)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// disconnects maps the key callHeader carries to the context of the HTTP
// request that brought the call. A client on a protocol before 2026-07-28
// that drops its POST while the tool runs is never told the result (airlock
// keeps no event store to resume from), yet the SDK lets the call run on;
// the tool handler looks its request up here and stops when it ends.
type disconnects struct {
	mu   sync.Mutex
	ctxs map[string]context.Context
}

func (d *disconnects) register(ctx context.Context) (key string, done func()) {
	var b [16]byte
	rand.Read(b[:])
	key = hex.EncodeToString(b[:])
	d.mu.Lock()
	if d.ctxs == nil {
		d.ctxs = map[string]context.Context{}
	}
	d.ctxs[key] = ctx
	d.mu.Unlock()
	return key, func() {
		d.mu.Lock()
		delete(d.ctxs, key)
		d.mu.Unlock()
	}
}

// lookup returns the HTTP request context registered under the request's
// callHeader, or nil for stdio and in-memory transports.
func (d *disconnects) lookup(h http.Header) context.Context {
	if h == nil {
		return nil
	}
	key := h.Get(callHeader)
	if key == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctxs[key]
}
