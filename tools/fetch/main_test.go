package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Got", r.Header.Get("X-Send"))
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/echo":
			io.Copy(w, r.Body)
		default:
			io.WriteString(w, "hello body")
		}
	}))
	defer srv.Close()

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  []string
		not   []string
		code  int
	}{
		{"get", []string{srv.URL + "/ok"}, "", []string{"HTTP/1.1 200 OK\n", "X-Method: GET\n", "\n\nhello body"}, nil, 0},
		{"head only", []string{"--head", srv.URL + "/ok"}, "", []string{"200 OK"}, []string{"hello body"}, 0},
		{"header", []string{srv.URL + "/ok", "-H", "X-Send: yes"}, "", []string{"X-Got: yes\n"}, nil, 0},
		{"post data", []string{"-d", "payload", srv.URL + "/echo"}, "", []string{"X-Method: POST\n", "payload"}, nil, 0},
		{"post stdin", []string{"-X", "PUT", "-d", "@-", srv.URL + "/echo"}, "from stdin", []string{"X-Method: PUT\n", "from stdin"}, nil, 0},
		{"max", []string{"--max", "5", srv.URL + "/ok"}, "", []string{"hello\n... 5 more bytes"}, []string{"hello body"}, 0},
		{"redirect followed", []string{srv.URL + "/redirect"}, "", []string{"200 OK", "hello body"}, nil, 0},
		{"not found", []string{srv.URL + "/missing"}, "", []string{"404 Not Found"}, nil, 1},
		{"no url", nil, "", nil, nil, 2},
		{"not http", []string{"ftp://example.com/"}, "", nil, nil, 2},
		{"bad header", []string{"-H", "novalue", srv.URL}, "", nil, nil, 2},
		{"refused", []string{"http://127.0.0.1:1/"}, "", nil, nil, 2},
		{"help", []string{"-h"}, "", []string{"usage: fetch"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.stdin), &out, &errb, http.DefaultTransport)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("stdout has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
