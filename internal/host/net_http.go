package host

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// netHTTP is one HTTP exchange on the host's HTTP path.
type netHTTP struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the round trip returned

	// Set by the round trip before done is closed.
	resp *http.Response
	err  error

	bodyLeft int64    // bytes of a declared length still to come; -1 when not declared
	secrets  []string // the credential values added, redacted from the response
	origin   string   // scheme://host of the request, for records
	head     []byte   // the encoded response head, made once
	refused  netErrno // set when the response may not reach the guest (refuseEncoded)

	mu     sync.Mutex
	closed bool
	body   *io.PipeWriter // the request body, nil when there is none or it was closed
	pump   *netPump       // the response body, once the head was handed out
}

func (x *netHTTP) close() {
	x.mu.Lock()
	x.closed = true
	resp, body, pump := x.resp, x.body, x.pump
	x.body = nil
	x.mu.Unlock()
	x.cancel()
	if body != nil {
		body.CloseWithError(net.ErrClosed)
	}
	if pump != nil {
		pump.close()
	}
	if resp != nil {
		resp.Body.Close()
	}
}

// requestBody returns the writer of the request body, nil once closed.
func (x *netHTTP) requestBody() *io.PipeWriter {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.body
}

// netRequestKey holds an HTTP request's own context among its values.
type netRequestKey struct{}

type netSchemeKey struct{}

// transport returns the run's HTTP transport, made on first use. It is the
// run's own, never shared: a connection it keeps was checked against this
// run's policy. Its dialer resolves, checks and dials exactly the checked
// address; it uses no proxy from the environment.
func (s *netRun) httpTransport() (*http.Transport, netErrno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, netECANCELED
	}
	if s.transport == nil {
		s.transport = &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				p, err := strconv.Atoi(port)
				if err != nil {
					return nil, err
				}
				scheme, _ := ctx.Value(netSchemeKey{}).(string)
				// http.Transport dials with a context detached from the
				// request's; the request's own (its timeout, the tool
				// closing it) must still withdraw a question the dial
				// opened.
				// (A child of the request's context ends with it at once,
				// so the withdrawal is seen before the tool can exit.)
				if req, ok := ctx.Value(netRequestKey{}).(context.Context); ok {
					dial := ctx
					var cancel context.CancelCauseFunc
					ctx, cancel = context.WithCancelCause(req)
					stop := context.AfterFunc(dial, func() { cancel(context.Cause(dial)) })
					defer func() { stop(); cancel(nil) }()
				}
				conn, _, err := s.dial(ctx, decision.OpHTTP, scheme, host, p, 0)
				return conn, err
			},
			TLSClientConfig:        &tls.Config{RootCAs: s.eng.rootCAs, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:      true,
			MaxResponseHeaderBytes: 1 << 20,
			MaxIdleConnsPerHost:    4,
		}
	}
	return s.transport, netOK
}

// netHopHeaders are request headers the host sets itself; a guest's are
// dropped (docs/network-abi.md). Accept-Encoding is among them so that the
// host's transport asks for gzip itself and decompresses the response:
// the redaction of an echoed credential must see the bytes the guest will
// read, not a compressed stream in which the secret cannot be found.
var netHopHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Upgrade": true, "Proxy-Connection": true, "Proxy-Authorization": true, "Te": true, "Trailer": true,
	"Accept-Encoding": true,
}

// parseNetRequest decodes the head of a request:
//
//	METHOD SP URL CRLF
//	*( NAME ":" [SP] VALUE CRLF )
//
// URL is absolute, http or https, without user information.
func parseNetRequest(head string) (method string, u *url.URL, h http.Header, e netErrno) {
	line, rest, _ := strings.Cut(head, "\r\n")
	method, raw, ok := strings.Cut(line, " ")
	if !ok || !netToken(method) || strings.ContainsAny(raw, " \t") {
		return "", nil, nil, netEINVAL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", nil, nil, netEINVAL
	}
	h = http.Header{}
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			if rest != "" {
				return "", nil, nil, netEINVAL
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !netToken(name) || !netHeaderValue(value) {
			return "", nil, nil, netEINVAL
		}
		name = http.CanonicalHeaderKey(name)
		if netHopHeaders[name] {
			continue
		}
		h.Add(name, strings.TrimLeft(value, " \t"))
	}
	return method, u, h, netOK
}

func netToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func netHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// http_request(req_ptr, req_len, body_len, timeout_ms, handle_ptr).
func netHTTPRequest(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	head, e := m.str(a.u32(0), a.u32(1), netMaxRequest)
	if e != netOK {
		return e
	}
	bodyLen := a.i64(2)
	if bodyLen < -1 {
		return netEINVAL
	}
	handlePtr := a.u32(4)
	if e := m.writable(handlePtr, 4); e != netOK {
		return e
	}
	method, u, hdr, e := parseNetRequest(head)
	if e != netOK {
		return e
	}
	if s.run.Gate.Revoked() {
		return netEACCES
	}
	t, e := s.httpTransport()
	if e != netOK {
		return e
	}

	var rctx context.Context
	var cancel context.CancelFunc
	if d := timeoutOf(a.i32(3)); d > 0 {
		rctx, cancel = context.WithTimeout(ctx, d)
	} else {
		rctx, cancel = context.WithCancel(ctx)
	}
	rctx = context.WithValue(rctx, netRequestKey{}, rctx)
	rctx = context.WithValue(rctx, netSchemeKey{}, u.Scheme)
	x := &netHTTP{cancel: cancel, done: make(chan struct{}), bodyLeft: -1}
	var body io.ReadCloser
	if bodyLen != 0 {
		pr, pw := io.Pipe()
		body, x.body = pr, pw
		if bodyLen > 0 {
			x.bodyLeft = bodyLen
		}
	}
	req, err := http.NewRequestWithContext(rctx, method, u.String(), body)
	if err != nil {
		cancel()
		return netEINVAL
	}
	req.Header = hdr
	req.ContentLength = bodyLen
	if bodyLen == 0 {
		req.Body = nil
	}
	var notes []decision.Request
	x.secrets, notes = s.addCredentials(req)
	x.origin = u.Scheme + "://" + u.Host

	h, e := s.add(x)
	if e != netOK {
		cancel()
		return e
	}
	s.requests.Add(1)
	go func() {
		resp, err := t.RoundTrip(req)
		if resp != nil {
			// The request went out, credentials and all: record them.
			for _, r := range notes {
				s.run.Gate.Note(r, true, "")
			}
		}
		x.mu.Lock()
		x.resp, x.err = resp, err
		closed := x.closed
		x.mu.Unlock()
		if closed && resp != nil {
			resp.Body.Close()
		}
		close(x.done)
	}()
	return m.putU32(handlePtr, h)
}

// netSecret is a credential's value, read once per run.
type netSecret struct {
	value string
	err   error
}

// addCredentials adds to req the header of every credential that applies
// to its scheme and host, replacing a header of the same name the guest
// set. It returns the secrets added (to redact from the response) and the
// records to make once the request has gone out; a credential whose secret
// cannot be read is recorded at once, as refused, and not sent.
func (s *netRun) addCredentials(req *http.Request) (secrets []string, notes []decision.Request) {
	host := req.URL.Hostname()
	if h, _, _, err := policy.NormalizeHost(host); err == nil {
		host = h
	}
	for i, c := range s.creds {
		if !c.AppliesTo(req.URL.Scheme, host) {
			continue
		}
		sec := s.secret(i, c)
		r := decision.Request{Kind: decision.NetCredential, Op: "add", Target: c.Header + " to " + req.URL.Scheme + "://" + host,
			Policy: policy.Allow, Rule: `credential "` + c.Name + `"`, Origin: c.Origin}
		if sec.err != nil {
			r.Rule += ": " + sec.err.Error()
			s.run.Gate.Note(r, false, "ENOENT")
			continue
		}
		req.Header.Set(c.Header, c.Value(sec.value))
		secrets = append(secrets, sec.value)
		notes = append(notes, r)
	}
	return secrets, notes
}

// secret reads credential i's value from the host environment or its file.
func (s *netRun) secret(i int, c policy.Credential) netSecret {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.secrets[i]; ok {
		return v
	}
	var v netSecret
	switch {
	case c.Env != "":
		lookup := s.run.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		val, ok := lookup(c.Env)
		if !ok || val == "" {
			v.err = errors.New("$" + c.Env + " is not set on the host")
		}
		v.value = val
	case c.File != "":
		b, err := os.ReadFile(c.File)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			v.err = errors.New("reading " + c.File + ": " + err.Error())
		}
		v.value = strings.TrimRight(string(b), "\r\n")
		if v.err == nil && v.value == "" {
			v.err = errors.New(c.File + " is empty")
		}
	default:
		v.err = errors.New("it names no env or file")
	}
	if s.secrets == nil {
		s.secrets = map[int]netSecret{}
	}
	s.secrets[i] = v
	return v
}

func (s *netRun) exchange(h uint32) (*netHTTP, netErrno) {
	x, ok := s.get(h).(*netHTTP)
	if !ok {
		return nil, netEBADF
	}
	return x, netOK
}

// failure is the errno of a body write that the transport refused: the
// round trip's own error (EACCES when the policy denied the connection)
// once it returns, else EPIPE.
func (x *netHTTP) failure(ctx context.Context) netErrno {
	if netWait(ctx, x.done, 5000) == netOK && x.err != nil {
		return netErrnoOf(x.err)
	}
	return netEPIPE
}

// http_body_write(handle, buf_ptr, buf_len, n_ptr).
func netHTTPBodyWrite(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	x, e := s.exchange(a.u32(0))
	if e != netOK {
		return e
	}
	buf, e := m.ioView(a.u32(1), a.u32(2))
	if e != netOK {
		return e
	}
	nPtr := a.u32(3)
	if e := m.writable(nPtr, 4); e != netOK {
		return e
	}
	body := x.requestBody()
	if body == nil {
		return netEPIPE
	}
	if x.bodyLeft >= 0 && int64(len(buf)) > x.bodyLeft {
		return netEFBIG
	}
	n, err := body.Write(buf)
	s.bytesOut.Add(int64(n))
	if x.bodyLeft >= 0 {
		x.bodyLeft -= int64(n)
	}
	if err != nil && n == 0 {
		return x.failure(ctx)
	}
	return m.putU32(nPtr, uint32(n))
}

// http_body_close(handle): the request body is complete.
func netHTTPBodyClose(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	x, e := s.exchange(a.u32(0))
	if e != netOK {
		return e
	}
	x.mu.Lock()
	body := x.body
	x.body = nil
	x.mu.Unlock()
	if body == nil {
		return netOK
	}
	var err error
	if x.bodyLeft > 0 {
		err = io.ErrUnexpectedEOF // fewer bytes than declared: the request fails
	}
	body.CloseWithError(err)
	if err != nil {
		return netEPIPE
	}
	return netOK
}

// http_response(handle, timeout_ms, status_ptr, headers_ptr, headers_cap,
// headers_len_ptr).
func netHTTPResponse(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	x, e := s.exchange(a.u32(0))
	if e != netOK {
		return e
	}
	statusPtr, hdrPtr, hdrCap, lenPtr := a.u32(2), a.u32(3), a.u32(4), a.u32(5)
	if e := m.writable(statusPtr, 4); e != netOK {
		return e
	}
	if e := m.writable(lenPtr, 4); e != netOK {
		return e
	}
	if e := netWait(ctx, x.done, a.i32(1)); e != netOK {
		return e
	}
	if x.err != nil {
		return netErrnoOf(x.err)
	}
	if x.refused != netOK {
		return x.refused
	}
	if x.head == nil {
		if e := s.refuseEncoded(x); e != netOK {
			return e
		}
		x.head = netResponseHead(x.resp, x.secrets)
		var body io.Reader = x.resp.Body
		body = newNetRedactor(body, x.secrets)
		body = &netCapped{r: body, left: s.eng.maxResponse}
		x.mu.Lock()
		if x.closed {
			x.mu.Unlock()
			return netEBADF
		}
		x.pump = newNetPump(body)
		x.mu.Unlock()
	}
	m.putU32(statusPtr, uint32(x.resp.StatusCode))
	m.putU32(lenPtr, uint32(len(x.head)))
	if uint32(len(x.head)) > hdrCap {
		return netENOBUFS
	}
	return m.put(hdrPtr, x.head)
}

// refuseEncoded refuses the response to a request that carried a
// credential when its body is in a Content-Encoding the host did not ask
// for. The host asks for gzip only, through its transport, which then
// decodes the body and drops the header; any encoding still named (br,
// deflate, zstd, gzip where a Range header kept the host from asking, a
// stack of them) is one the redaction cannot see into: the secret would
// reach the guest compressed. The guest gets EPROTO and the refusal is
// recorded (RATIONALE.md, "Why refuse an encoded response rather than
// decode it?").
func (s *netRun) refuseEncoded(x *netHTTP) netErrno {
	if len(x.secrets) == 0 {
		return netOK
	}
	enc := netUnaskedEncoding(x.resp.Header)
	if enc == "" {
		return netOK
	}
	// The server wrote it: the record gets it redacted and short.
	if enc = netRedactString(enc, x.secrets); len(enc) > 64 {
		enc = enc[:64] + "…"
	}
	x.refused = netEPROTO
	x.resp.Body.Close()
	s.run.Gate.Note(decision.Request{Kind: decision.NetCredential, Op: "response", Target: "Content-Encoding: " + enc + " from " + x.origin,
		Policy: policy.Deny, Rule: "a response to a request that carried a credential is refused in an encoding the host did not ask for: the secret could not be redacted from it",
		Origin: policy.Origin{Layer: policy.LayerBuiltin}}, false, netEPROTO.String())
	return x.refused
}

// netUnaskedEncoding returns the response's Content-Encoding, as the
// server wrote it, unless it is empty or only "identity".
func netUnaskedEncoding(h http.Header) string {
	vs := h.Values("Content-Encoding")
	for _, v := range vs {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "identity") {
				return strings.Join(vs, ", ")
			}
		}
	}
	return ""
}

// netResponseHead encodes the response headers as "Name: value" CRLF
// lines, names in order, with the secrets redacted. Content-Length is left
// out when a secret could be redacted from the body (its length would
// change).
func netResponseHead(resp *http.Response, secrets []string) []byte {
	var b strings.Builder
	for _, k := range sortedKeys(resp.Header) {
		if len(secrets) > 0 && k == "Content-Length" {
			continue
		}
		name := netRedactString(k, secrets)
		for _, v := range resp.Header[k] {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(netRedactString(v, secrets))
			b.WriteString("\r\n")
		}
	}
	return []byte(b.String())
}

// http_read(handle, buf_ptr, buf_len, timeout_ms, n_ptr).
func netHTTPRead(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	x, e := s.exchange(a.u32(0))
	if e != netOK {
		return e
	}
	buf, e := m.ioView(a.u32(1), a.u32(2))
	if e != netOK {
		return e
	}
	nPtr := a.u32(4)
	if e := m.writable(nPtr, 4); e != netOK {
		return e
	}
	x.mu.Lock()
	pump := x.pump
	x.mu.Unlock()
	if pump == nil {
		return netENOTCONN // http_response has not returned the head yet
	}
	n, e := pump.read(ctx, buf, a.i32(3))
	if e != netOK {
		return e
	}
	s.bytesIn.Add(int64(n))
	return m.putU32(nPtr, uint32(n))
}

// http_close(handle).
func netHTTPClose(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	x, e := s.exchange(a.u32(0))
	if e != netOK {
		return e
	}
	s.remove(a.u32(0))
	x.close()
	return netOK
}
