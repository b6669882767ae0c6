// Package airlocknet is the guest side of airlock's network: a tool built
// with GOOS=wasip1 GOARCH=wasm uses it to reach the network through the
// host functions of module airlock_net_v1 (docs/network-abi.md), which
// check every connection against the run's policy.
//
// Two paths:
//
//   - HTTP through the host: Transport is an http.RoundTripper. The host
//     resolves the name, checks the address, does TLS with its own roots
//     and adds the credentials the policy binds to the host, which the tool
//     never sees. Use it with an unchanged http.Client:
//
//     client := &http.Client{Transport: &airlocknet.Transport{}}
//
//   - Raw TCP: Dial and Dialer return a net.Conn. The host resolves, checks
//     and connects; everything else, TLS included (crypto/tls, with roots
//     the tool brings), is the tool's. Dialer.DialContext fits
//     http.Transport.DialContext.
//
// A wasip1 program has one thread: a host call that blocks stops every
// goroutine. So reads and waits poll: they ask the host for what has
// arrived, yield to other goroutines, then wait in the host for a few
// milliseconds at most before asking again. Connecting blocks until the
// connection is made or refused.
//
// Built for any other GOOS the package compiles, and every call fails with
// ErrUnavailable, so that tools using it build and test natively.
package airlocknet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// WASI errnos this package tells apart.
const (
	eACCES     = 2
	eAGAIN     = 6
	eBADF      = 8
	eFBIG      = 22
	eNOBUFS    = 42
	eNOENT     = 44
	eNOSYS     = 52
	eTIMEDOUT  = 73
	eCANCELED  = 11
	pollSlice  = 5 * time.Millisecond // longest wait in the host before goroutines run again
	maxIOChunk = 16 << 20             // the host moves at most this much per read or write
)

var (
	// ErrDenied is what a connection fails with when airlock's network
	// policy (or the person asked) refused it. Such errors also match
	// fs.ErrPermission.
	ErrDenied = errors.New("denied by airlock's network policy")
	// ErrUnavailable is what every call fails with outside airlock: built
	// for another GOOS than wasip1.
	ErrUnavailable = errors.New("airlocknet: no airlock host (the network host functions exist only in a wasip1 tool run by airlock)")
	// ErrTooLarge is what reading an HTTP response body fails with once
	// the body passed the host's limit on response size.
	ErrTooLarge = errors.New("response body larger than airlock's limit")
)

// errFor turns an errno into an error that says what it means here.
func errFor(e uint32) error {
	switch e {
	case eACCES:
		return fmt.Errorf("%w (%w)", ErrDenied, errnoError(e))
	case eFBIG:
		return fmt.Errorf("%w (%w)", ErrTooLarge, errnoError(e))
	case eNOENT:
		return fmt.Errorf("no such host (%w)", errnoError(e))
	}
	return errnoError(e)
}

// Scheme codes of the ABI.
func schemeCode(s string) (uint32, error) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return 0, nil
	case "http":
		return 1, nil
	case "https":
		return 2, nil
	}
	return 0, fmt.Errorf("airlocknet: unknown scheme %q: use tcp, http or https", s)
}

// poll calls op until it returns something other than "not yet" (EAGAIN),
// the deadline passes (eTIMEDOUT) or ctx ends (eCANCELED). op gets the
// longest it may wait in the host, in milliseconds: 0 the first time,
// then at most pollSlice; between calls other goroutines run.
func poll(ctx context.Context, deadline time.Time, op func(timeoutMs int32) uint32) uint32 {
	for spin := 0; ; spin++ {
		ms := int32(0)
		if spin > 0 {
			wait := pollSlice
			if !deadline.IsZero() {
				left := time.Until(deadline)
				if left <= 0 {
					return eTIMEDOUT
				}
				wait = min(wait, left)
			}
			ms = int32((wait + time.Millisecond - 1) / time.Millisecond)
		}
		if e := op(ms); e != eAGAIN {
			return e
		}
		if ctx.Err() != nil {
			return eCANCELED
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return eTIMEDOUT
		}
		runtime.Gosched()
	}
}

// Resolve returns the addresses of host that the host would let the tool
// connect to with scheme ("tcp", "http" or "https") on port: those the
// policy allows or would ask about. It fails with ErrDenied when there is
// none. Connect by name all the same (Dial, Transport): the host resolves
// again and checks the address it dials, and rules naming the host match
// only a connection made by name.
func Resolve(ctx context.Context, scheme, host string, port int) ([]netip.Addr, error) {
	code, err := schemeCode(scheme)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("airlocknet: port %d out of range", port)
	}
	buf := make([]byte, 512)
	for {
		var n uint32
		e := abiResolve(unsafe.Pointer(unsafe.StringData(host)), uint32(len(host)), uint32(port), code,
			unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)), unsafe.Pointer(&n))
		if e == eNOBUFS && int(n) > len(buf) {
			buf = make([]byte, n)
			continue
		}
		if e != 0 {
			return nil, fmt.Errorf("airlocknet: resolving %s: %w", host, errFor(e))
		}
		var out []netip.Addr
		for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
			if a, err := netip.ParseAddr(line); err == nil {
				out = append(out, a)
			}
		}
		return out, nil
	}
}
