//go:build !wasip1

package airlocknet

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// Outside airlock every call fails with ErrUnavailable, and nothing
// panics: tools that use the package test natively.
func TestUnavailableOutsideAirlock(t *testing.T) {
	if _, err := Dial("tcp", "example.com:80"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Dial: %v, want ErrUnavailable", err)
	}
	if _, err := Resolve(context.Background(), "https", "example.com", 443); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Resolve: %v, want ErrUnavailable", err)
	}
	_, err := (&http.Client{Transport: &Transport{}}).Get("https://example.com/")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get: %v, want ErrUnavailable", err)
	}
}

func TestDialRejectsBadArguments(t *testing.T) {
	for _, c := range []struct{ network, addr, want string }{
		{"udp", "example.com:53", "unknown network"},
		{"tcp", "example.com", "missing port"},
		{"tcp", "example.com:0", "invalid port"},
		{"tcp", "example.com:99999", "invalid port"},
	} {
		_, err := Dial(c.network, c.addr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Dial(%q, %q) = %v, want %q", c.network, c.addr, err, c.want)
		}
	}
	if _, err := (&Dialer{Scheme: "ftp"}).Dial("tcp", "example.com:21"); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
		t.Errorf("scheme ftp: %v", err)
	}
}

func TestEncodeRequest(t *testing.T) {
	req, _ := http.NewRequest("POST", "https://user:pw@example.com/a?b=c#frag", nil)
	req.Header.Set("X-B", "2")
	req.Header.Add("X-A", "1")
	req.Header.Add("X-A", "one")
	got := encodeRequest("POST", req)
	want := "POST https://example.com/a?b=c\r\nX-A: 1\r\nX-A: one\r\nX-B: 2\r\n"
	if got != want {
		t.Errorf("encodeRequest:\n%q\nwant\n%q", got, want)
	}
}
