package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counter is a TCP server on 127.0.0.1 that counts the connections it
// accepts: the host-side witness of a connect getting through. With a
// reply, it answers each connection with it (after what the client sends
// first, if anything) before closing it.
type counter struct {
	ln    net.Listener
	n     atomic.Int64
	reply string
}

func newCounter(t *testing.T) *counter { return startCounter(t, "") }

// newFixedServer is a counter that answers every connection with the
// same small HTTP response.
func newFixedServer(t *testing.T) *counter {
	return startCounter(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nfixed\n")
}

func startCounter(t *testing.T, reply string) *counter {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{ln: ln, reply: reply}
	var wg sync.WaitGroup
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			if c.reply == "" {
				conn.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				// An HTTP client speaks first; a raw one may wait to be
				// spoken to.
				conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				conn.Read(make([]byte, 4096))
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(conn, c.reply)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return c
}

func (c *counter) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

func (c *counter) count() int64 {
	time.Sleep(100 * time.Millisecond) // a connection in flight would be counted by now
	return c.n.Load()
}
