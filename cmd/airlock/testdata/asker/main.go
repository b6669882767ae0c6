// Command asker is a WASI guest for the approvals tests of the airlock CLI.
// Each argument is one action, run in order; each prints one line:
//
//	write:PATH:TEXT     write TEXT to PATH: "write PATH ok" or "write PATH err ERROR"
//	write!:PATH:TEXT    the same, but exit 3 when the write fails
//	copy:SRC:DST        copy the file SRC to DST: "copy SRC ok" or "copy SRC err ERROR"
//	print:TEXT          print TEXT with Go escapes (\x1b, \r, \n) interpreted
//	connect:HOST:PORT   connect through airlock's network and read one line
//	http:TIMEOUT:URL    GET URL through airlock's HTTP, giving up after TIMEOUT
//	http&:URL           start a GET of URL and go on without waiting for it
//	env:NAME            print NAME's value, or "env NAME unset"
//	sleep:DURATION      sleep
//	loop                sleep forever (for a process to be killed)
//	exit:N              exit with status N
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o asker.wasm .
package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
)

func main() {
	for _, arg := range os.Args[1:] {
		op, rest, _ := strings.Cut(arg, ":")
		switch op {
		case "write", "write!":
			path, text, _ := strings.Cut(rest, ":")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				fmt.Printf("write %s err %v\n", path, err)
				if op == "write!" {
					os.Exit(3)
				}
			} else {
				fmt.Printf("write %s ok\n", path)
			}
		case "copy":
			src, dst, _ := strings.Cut(rest, ":")
			b, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
			if err != nil {
				fmt.Printf("copy %s err %v\n", src, err)
			} else {
				fmt.Printf("copy %s ok\n", src)
			}
		case "print":
			s, err := strconv.Unquote(`"` + rest + `"`)
			if err != nil {
				s = rest
			}
			fmt.Print(s)
		case "connect":
			conn, err := airlocknet.Dial("tcp", rest)
			if err != nil {
				fmt.Printf("connect %s err %v\n", rest, err)
				continue
			}
			line, err := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			fmt.Printf("connect %s ok %q %v\n", rest, line, err)
		case "http":
			d, url, _ := strings.Cut(rest, ":")
			timeout, _ := time.ParseDuration(d)
			c := &http.Client{Transport: &airlocknet.Transport{}, Timeout: timeout}
			resp, err := c.Get(url)
			if err != nil {
				fmt.Printf("http %s err %v\n", url, err)
				continue
			}
			resp.Body.Close()
			fmt.Printf("http %s ok %d\n", url, resp.StatusCode)
		case "http&":
			go (&http.Client{Transport: &airlocknet.Transport{}}).Get(rest)
			time.Sleep(100 * time.Millisecond) // the request is made
		case "env":
			if v, ok := os.LookupEnv(rest); ok {
				fmt.Printf("env %s=%s\n", rest, v)
			} else {
				fmt.Printf("env %s unset\n", rest)
			}
		case "sleep":
			d, _ := time.ParseDuration(rest)
			time.Sleep(d)
		case "loop":
			for {
				time.Sleep(time.Second)
			}
		case "exit":
			n, _ := strconv.Atoi(rest)
			os.Exit(n)
		default:
			fmt.Printf("unknown action %q\n", arg)
			os.Exit(2)
		}
	}
}
