// Command fetch makes one HTTP request for an agent and prints the
// response: the status line, the headers, a blank line, then the body.
//
// It is a WASI preview 1 command (GOOS=wasip1 GOARCH=wasm) written with
// airlock's guest SDK: under airlock, the host makes the request, checks it
// against the policy's network rules and adds the credentials the policy
// binds to the host, which the tool never sees. Built natively it uses Go's
// own HTTP client, for its tests. The usage below is the documentation;
// docs/network-abi.md describes the network underneath.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/airlockhq/airlock/tools/internal/cli"
	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
)

const usage = `usage: fetch [-X METHOD] [-H 'Name: value']... [-d BODY] [--head] [--max N] [--timeout D] URL
Make one HTTP request and print the status line, the headers, a blank line and the body.

  -X METHOD     the request method (default GET, or POST with -d)
  -H 'N: v'     add a request header (repeatable)
  -d BODY       send BODY as the request body ("@-" reads standard input)
  --head        print the status line and headers only
  --max N       print at most N bytes of the body, then "... K more bytes" (0: all; default 1048576)
  --timeout D   give up after D (default 30s)

Redirects are followed (at most 10). Under airlock a refused connection says
"denied by airlock's network policy".
Exit status: 0 a response with status below 400, 1 a response with status 400
or more, 2 usage error, or no response (refused, unreachable, timed out).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, transport()))
}

// transport is airlock's host HTTP path in a wasip1 build, and Go's own
// transport natively.
func transport() http.RoundTripper {
	if runtime.GOOS == "wasip1" {
		return &airlocknet.Transport{}
	}
	return http.DefaultTransport
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// run is the whole program behind main, with its streams and transport
// passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, rt http.RoundTripper) int {
	var (
		method, data string
		headers      headerList
		headOnly     bool
		max          int64
		timeout      time.Duration
	)
	flags := flag.NewFlagSet("fetch", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.StringVar(&method, "X", "", "")
	flags.Var(&headers, "H", "")
	flags.StringVar(&data, "d", "", "")
	flags.BoolVar(&headOnly, "head", false, "")
	flags.Int64Var(&max, "max", 1<<20, "")
	flags.DurationVar(&timeout, "timeout", 30*time.Second, "")
	operands, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err == nil && len(operands) != 1 {
		err = fmt.Errorf("want one URL, got %d operands", len(operands))
	}
	if err == nil && max < 0 {
		err = fmt.Errorf("--max %d: want 0 or more", max)
	}
	var req *http.Request
	if err == nil {
		req, err = newRequest(method, operands[0], data, headers, stdin)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}

	client := &http.Client{Transport: rt, Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return 2
	}
	defer resp.Body.Close()
	fmt.Fprintf(stdout, "%s %s\n", resp.Proto, resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(stdout, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(stdout)
	code := 0
	if resp.StatusCode >= 400 {
		code = 1
	}
	if headOnly {
		return code
	}
	var body io.Reader = resp.Body
	if max > 0 {
		body = io.LimitReader(resp.Body, max)
	}
	if _, err := io.Copy(stdout, body); err != nil {
		fmt.Fprintf(stderr, "fetch: reading the body: %v\n", err)
		return 2
	}
	if max > 0 {
		rest, err := io.Copy(io.Discard, resp.Body)
		if rest > 0 {
			fmt.Fprintf(stdout, "\n... %d more bytes (raise --max to see them)\n", rest)
		}
		if err != nil {
			fmt.Fprintf(stderr, "fetch: reading the body: %v\n", err)
			return 2
		}
	}
	return code
}

func newRequest(method, url, data string, headers []string, stdin io.Reader) (*http.Request, error) {
	var body io.Reader
	if data != "" {
		if method == "" {
			method = http.MethodPost
		}
		body = strings.NewReader(data)
		if data == "@-" {
			body = stdin
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", url)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}
