package airlocknet_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
)

// A tool fetches a URL with an unchanged http.Client: the host resolves,
// checks, connects, does TLS and adds the credentials the policy binds to
// the host. Run under airlock with a policy that allows the host, e.g.
//
//	network {
//	  allow = ["https://api.github.com"]
//	}
func Example_httpClient() {
	client := &http.Client{Transport: &airlocknet.Transport{}, Timeout: 30 * time.Second}
	resp, err := client.Get("https://api.github.com/zen")
	if errors.Is(err, airlocknet.ErrDenied) {
		fmt.Println("the policy does not allow api.github.com")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	io.Copy(os.Stdout, resp.Body)
}

// A raw TCP connection: the tool speaks the protocol itself.
func ExampleDialer() {
	d := &airlocknet.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(context.Background(), "tcp", "db.internal:6379")
	if err != nil {
		fmt.Println(err) // outside airlock: ErrUnavailable; refused: ErrDenied
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "PING\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Print(line)
}

// net/http's own Transport over the raw path: the tool does TLS itself,
// with roots it brings (a wasip1 tool has no system roots), and the host
// sees only a TCP connection. The policy needs a rule for the scheme the
// Dialer declares, e.g. "https://example.com".
func ExampleDialer_httpTransport() {
	pem, err := os.ReadFile("/work/ca.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{
		DialContext:     (&airlocknet.Dialer{Scheme: "https"}).DialContext,
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	resp, err := client.Get("https://example.com/")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
}

// Resolve shows which addresses the host would connect to.
func ExampleResolve() {
	addrs, err := airlocknet.Resolve(context.Background(), "https", "api.github.com", 443)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
}
