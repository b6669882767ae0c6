// Command netguest exercises airlock's network ABI from inside the sandbox,
// for the tests of package host (internal/host). One action per run:
//
//	echo HOST PORT MSG [SCHEME]  raw TCP: send MSG, half-close, print the reply
//	hang HOST PORT               raw TCP: connect and wait for a reply that never comes
//	get URL                      HTTP through the host: status, headers, body
//	post URL BODY                HTTP through the host with a streamed request body
//	rawget URL [CAFILE]          net/http's Transport over the raw path (TLS in the guest)
//	download URL host|raw        fetch URL, print only the byte count
//	resolve SCHEME NAME PORT     print the addresses the host would accept
//	spy URL                      print everything the tool can reach: env, files under /work,
//	                             its own request, the response headers and body
//	fetch URL [NAME:VALUE…]      HTTP through the host with these request headers; the body
//	                             is printed as it came, in base64 ("body64: …")
//	badargs                      call the ABI with bad pointers, lengths and handles
//
// Errors print "error: …" (plus "denied" when the policy refused) and exit 1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("no action"))
	}
	var err error
	a := os.Args[2:]
	switch os.Args[1] {
	case "echo":
		scheme := ""
		if len(a) > 3 {
			scheme = a[3]
		}
		err = echo(a[0], a[1], a[2], scheme)
	case "hang":
		err = hang(a[0], a[1])
	case "get":
		err = get(a[0])
	case "post":
		err = post(a[0], a[1])
	case "rawget":
		ca := ""
		if len(a) > 1 {
			ca = a[1]
		}
		err = rawget(a[0], ca)
	case "download":
		err = download(a[0], a[1])
	case "resolve":
		err = resolve(a[0], a[1], a[2])
	case "spy":
		err = spy(a[0])
	case "fetch":
		err = fetch(a[0], a[1:])
	case "badargs":
		badargs()
	default:
		err = fmt.Errorf("unknown action %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Printf("error: %v\n", err)
	if errors.Is(err, airlocknet.ErrDenied) {
		fmt.Println("denied")
	}
	if errors.Is(err, fs.ErrPermission) {
		fmt.Println("permission")
	}
	os.Exit(1)
}

func echo(host, port, msg, scheme string) error {
	d := &airlocknet.Dialer{Timeout: 5 * time.Second, Scheme: scheme}
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("peer: %s\n", c.RemoteAddr())
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	fmt.Printf("echo: %s\n", reply)
	return nil
}

func hang(host, port string) error {
	c, err := airlocknet.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	fmt.Println("connected")
	var b [1]byte
	_, err = c.Read(b[:])
	return err
}

func printResponse(resp *http.Response, withBody bool) error {
	fmt.Printf("status: %d\n", resp.StatusCode)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Printf("header: %s: %s\n", k, v)
		}
	}
	if !withBody {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	fmt.Printf("body: %s\n", b)
	return err
}

func get(url string) error {
	client := &http.Client{Transport: &airlocknet.Transport{}, Timeout: 20 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printResponse(resp, true)
}

func post(url, body string) error {
	client := &http.Client{Transport: &airlocknet.Transport{}, Timeout: 20 * time.Second}
	// A reader without a known length: the body goes chunked, streamed
	// through http_body_write.
	resp, err := client.Post(url, "text/plain", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printResponse(resp, true)
}

func rawTransport(scheme, caFile string) (*http.Transport, error) {
	t := &http.Transport{DialContext: (&airlocknet.Dialer{Scheme: scheme}).DialContext}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		t.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	return t, nil
}

func rawget(url, caFile string) error {
	scheme, _, _ := strings.Cut(url, "://")
	t, err := rawTransport(scheme, caFile)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: t, Timeout: 20 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printResponse(resp, true)
}

func download(url, mode string) error {
	var rt http.RoundTripper = &airlocknet.Transport{}
	if mode == "raw" {
		t, err := rawTransport("http", "")
		if err != nil {
			return err
		}
		rt = t
	}
	resp, err := (&http.Client{Transport: rt}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	fmt.Printf("status: %d\nbytes: %d\n", resp.StatusCode, n)
	return err
}

func resolve(scheme, name, port string) error {
	var p int
	fmt.Sscan(port, &p)
	addrs, err := airlocknet.Resolve(context.Background(), scheme, name, p)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		fmt.Printf("addr: %s\n", a)
	}
	return nil
}

// spy prints everything a tool can reach, to prove a credential is none
// of it.
func spy(url string) error {
	fmt.Println("== env")
	for _, kv := range os.Environ() {
		fmt.Println(kv)
	}
	fmt.Println("== files")
	filepath.WalkDir("/work", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		fmt.Printf("%s: %s\n", p, b)
		return nil
	})
	fmt.Println("== request")
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer guest-made-this-up")
	resp, err := (&http.Client{Transport: &airlocknet.Transport{}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dump, _ := httputil.DumpRequestOut(resp.Request, false)
	fmt.Printf("%s\n", bytes.TrimSpace(dump))
	fmt.Printf("%#v\n", resp.Request.Header)
	fmt.Println("== response")
	return printResponse(resp, true)
}

func fetch(url string, headers []string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := (&http.Client{Transport: &airlocknet.Transport{}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := printResponse(resp, false); err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	fmt.Printf("body64: %s\n", base64.StdEncoding.EncodeToString(b))
	return err
}

//go:wasmimport airlock_net_v1 connect
func rawConnect(host unsafe.Pointer, hostLen, port, scheme uint32, timeoutMs int32, handle unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 read
func rawRead(handle uint32, buf unsafe.Pointer, bufLen uint32, timeoutMs int32, n unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_request
func rawHTTPRequest(req unsafe.Pointer, reqLen uint32, bodyLen int64, timeoutMs int32, handle unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_close
func rawHTTPClose(handle uint32) uint32

// badargs calls the ABI with what a buggy guest might pass and prints each
// errno; the host must answer every one without crashing.
func badargs() {
	huge := unsafe.Add(unsafe.Pointer(nil), 0xfffffff0) // past any memory
	var h uint32
	host := "127.0.0.1"
	hp := unsafe.Pointer(unsafe.StringData(host))
	req := "GET http://127.0.0.1:1/ HTTP/1.1\r\n"
	fmt.Println("connect host past memory:", rawConnect(huge, 64, 80, 0, 10, unsafe.Pointer(&h)))
	fmt.Println("connect host too long:", rawConnect(hp, 1<<30, 80, 0, 10, unsafe.Pointer(&h)))
	fmt.Println("connect bad scheme:", rawConnect(hp, uint32(len(host)), 80, 9, 10, unsafe.Pointer(&h)))
	fmt.Println("connect bad port:", rawConnect(hp, uint32(len(host)), 70000, 0, 10, unsafe.Pointer(&h)))
	fmt.Println("connect handle past memory:", rawConnect(hp, uint32(len(host)), 80, 0, 10, huge))
	fmt.Println("read unknown handle:", rawRead(12345, unsafe.Pointer(&h), 4, 0, unsafe.Pointer(&h)))
	fmt.Println("http bad request line:", rawHTTPRequest(unsafe.Pointer(unsafe.StringData(req)), uint32(len(req)), 0, 10, unsafe.Pointer(&h)))
	fmt.Println("http bad body length:", rawHTTPRequest(unsafe.Pointer(unsafe.StringData(req)), uint32(len(req)), -5, 10, unsafe.Pointer(&h)))
	fmt.Println("http close unknown:", rawHTTPClose(777))
}
