// Package otelcoltest starts a real OpenTelemetry Collector on loopback for
// tests and reads back, as plain Go values, what it received (decoded by
// internal/otlpjson, as `airlock trace show` decodes a Collector's files).
//
// The collector is the minimal one in testdata/otelcol (its own Go module):
// an OTLP receiver on gRPC and HTTP and one file exporter per signal writing
// OTLP JSON lines. It is built once by .ci/otelcol.sh into
// $HOME/.cache/airlock-test/otelcol (or $AIRLOCK_OTELCOL); Start builds it
// when it is missing or older than its sources, and skips the test when it
// cannot be built, except under CI (CI=true), where it fails the test.
//
// Each Start runs its own collector on free 127.0.0.1 ports with its files
// in t.TempDir(), so tests may run in parallel. The collector's own
// telemetry is off and it opens no connection of its own.
package otelcoltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long Start waits for both ports.
	readyTimeout = 15 * time.Second
	// stopTimeout bounds the graceful shutdown before the process is killed.
	stopTimeout = 5 * time.Second
	// flushInterval is how often the file exporters flush their buffers.
	flushInterval = 50 * time.Millisecond
	// pollInterval is how often the WaitFor helpers reread the files.
	pollInterval = 50 * time.Millisecond
	// portAttempts is how often Start retries when a port it picked was
	// taken by someone else before the collector could bind it.
	portAttempts = 3
)

// Collector is a running collector started by Start. Its methods are safe
// for concurrent use; those taking a testing.TB must be called from the
// test's goroutine.
type Collector struct {
	grpcAddr string
	httpAddr string
	dir      string

	cmd     *exec.Cmd
	stderr  *syncBuffer
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed

	stopOnce sync.Once
}

// Start builds (if needed) and starts a collector, waits until its OTLP gRPC
// and HTTP ports accept connections, and stops it when the test ends. ctx
// bounds the build and the start, not the collector's life.
func Start(ctx context.Context, t testing.TB) *Collector {
	t.Helper()
	bin := binary(ctx, t)
	dir := t.TempDir()
	var err error
	for range portAttempts {
		var c *Collector
		c, err = start(ctx, bin, dir)
		if err == nil {
			t.Cleanup(func() {
				c.Stop()
				if t.Failed() {
					t.Logf("otelcoltest: collector stderr:\n%s", c.Stderr())
				}
			})
			return c
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("otelcoltest: %v", err)
	return nil
}

var errPortTaken = errors.New("a port was taken before the collector could bind it")

func start(ctx context.Context, bin, dir string) (*Collector, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		grpcAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		dir:      dir,
		stderr:   &syncBuffer{},
		exited:   make(chan struct{}),
	}
	cfgPath := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(cfgPath, []byte(c.config()), 0o600); err != nil {
		return nil, fmt.Errorf("writing the collector config: %w", err)
	}
	c.cmd = exec.Command(bin, "--config", "file:"+cfgPath)
	c.cmd.Dir = dir
	c.cmd.Stdout = c.stderr
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = sysProcAttr()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	err = c.waitReady(ctx)
	if err == nil {
		// Both ports answered; make sure it was the collector and not
		// another process that took a port first (the collector then exits).
		select {
		case <-c.exited:
			err = fmt.Errorf("the collector exited after start: %v", c.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		c.Stop()
		out := c.Stderr()
		if strings.Contains(out, "address already in use") {
			return nil, fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return nil, fmt.Errorf("%v\ncollector stderr:\n%s", err, out)
	}
	return c, nil
}

// waitReady waits until both ports accept a TCP connection, the process
// exits, ctx ends or readyTimeout passes, whichever comes first.
func (c *Collector) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	pending := []string{c.grpcAddr, c.httpAddr}
	var d net.Dialer
	for {
		for len(pending) > 0 {
			conn, err := d.DialContext(ctx, "tcp", pending[0])
			if err != nil {
				break
			}
			conn.Close()
			pending = pending[1:]
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("the collector exited before listening on %s: %v", pending[0], c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the collector to listen on %s: %w", pending[0], ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop shuts the collector down gracefully, so the exporters flush their
// files, killing it if it takes longer than a few seconds. It is called at
// the end of the test; calling it earlier (to read the final files, or to
// test an exporter whose collector went away) is allowed, and the readers
// keep working after it. It is idempotent.
func (c *Collector) Stop() {
	c.stopOnce.Do(func() {
		select {
		case <-c.exited:
			return
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
}

// GRPCEndpoint is the OTLP/gRPC address, "127.0.0.1:PORT" (no scheme; use
// an insecure connection).
func (c *Collector) GRPCEndpoint() string { return c.grpcAddr }

// HTTPEndpoint is the OTLP/HTTP base URL, "http://127.0.0.1:PORT"; the
// signals go to /v1/traces, /v1/logs and /v1/metrics under it.
func (c *Collector) HTTPEndpoint() string { return "http://" + c.httpAddr }

// HTTPAddr is the OTLP/HTTP address, "127.0.0.1:PORT", for exporters
// configured with a host:port rather than a URL.
func (c *Collector) HTTPAddr() string { return c.httpAddr }

// Stderr returns what the collector wrote to stdout and stderr so far.
func (c *Collector) Stderr() string { return c.stderr.String() }

// Dir is the directory holding the config and the exported JSON files
// (traces.jsonl, logs.jsonl, metrics.jsonl).
func (c *Collector) Dir() string { return c.dir }

func (c *Collector) file(signal string) string {
	return filepath.Join(c.dir, signal+".jsonl")
}

// config is the collector configuration: OTLP in, one JSON-lines file per
// signal out, and the collector's own telemetry off (metrics level none also
// keeps it from opening its default Prometheus port 8888).
func (c *Collector) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q
      http:
        endpoint: %q
exporters:
`, c.grpcAddr, c.httpAddr)
	for _, s := range []string{"traces", "logs", "metrics"} {
		fmt.Fprintf(&b, `  file/%s:
    path: %q
    format: json
    flush_interval: %s
`, s, c.file(s), flushInterval)
	}
	b.WriteString(`service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
`)
	for _, s := range []string{"traces", "logs", "metrics"} {
		fmt.Fprintf(&b, `    %s:
      receivers: [otlp]
      exporters: [file/%s]
`, s, s)
	}
	return b.String()
}

// freePorts asks the kernel for n distinct free loopback ports. Another
// process may take one before the collector binds it; Start retries then.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine and
// the test's readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
