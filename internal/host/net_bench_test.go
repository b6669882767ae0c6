//go:build linux

package host_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkDownload100MB downloads 100 MB over loopback three ways: Go's
// native http.Client (the baseline), a guest using the host's HTTP path
// (airlocknet.Transport), and a guest running net/http's own Transport over
// the raw socket path (airlocknet.Dialer). Each guest sub-benchmark reports
// x-native, its time over the baseline's; each iteration of a guest runs
// the whole tool (start, request, copy, exit) as airlock run does, with
// InterruptAbandon. Run all three together:
//
//	go test -run '^$' -bench Download100MB -benchtime 3x ./internal/host
func BenchmarkDownload100MB(b *testing.B) {
	const size = 100 << 20
	chunk := []byte(strings.Repeat("0123456789abcdef", 64<<10/16))
	srv := newHTTPServer(b, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for left := size; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				return
			}
		}
	}))
	url := "http://127.0.0.1:" + srv.port + "/big"
	var nativeNs float64

	b.Run("native", func(b *testing.B) {
		b.SetBytes(size)
		client := &http.Client{Transport: &http.Transport{}}
		buf := make([]byte, 256<<10)
		for b.Loop() {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			if err != nil || n != size {
				b.Fatalf("%d bytes, %v", n, err)
			}
			client.CloseIdleConnections() // a tool run starts afresh too
		}
		nativeNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})

	for _, mode := range []struct{ name, arg string }{{"host-http", "host"}, {"raw-socket", "raw"}} {
		b.Run(mode.name, func(b *testing.B) {
			c := netCase{
				policy:  "network {\n  allow = [\"127.0.0.1\"]\n}",
				args:    []string{"download", url, mode.arg},
				abandon: true,
			}
			run := func() {
				o := runNet(b, c)
				if o.res.ExitCode != 0 || !strings.Contains(o.out, "bytes: "+strconv.Itoa(size)) {
					b.Fatalf("exit %d\n%s", o.res.ExitCode, o.out)
				}
			}
			run() // compiles the guest, outside the timing
			b.SetBytes(size)
			for b.Loop() {
				run()
			}
			if nativeNs > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nativeNs, "x-native")
			}
		})
	}
}
