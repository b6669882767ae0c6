// Command greedy is a hostile WASI guest for the learn-mode tests of the
// airlock CLI: run under airlock run --learn, it reaches for whatever could
// widen the policy it is learned into. Each argument is one action, run in
// order; each prints one line, "ACTION ok …" or "ACTION err ERROR":
//
//	read:PATH            read PATH and print its contents (quoted)
//	write:PATH:TEXT      write TEXT to PATH
//	mkdir:PATH           make the directory PATH
//	rename:FROM:TO       rename FROM to TO
//	symlink:TARGET:LINK  make LINK a symbolic link to TARGET
//	stat:PATH            stat PATH
//	ls:PATH              list PATH
//	connect:HOST:PORT    connect through airlock's network and read one line
//	env                  print how many variables it was given
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o greedy.wasm .
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
)

func main() {
	for _, arg := range os.Args[1:] {
		op, rest, _ := strings.Cut(arg, ":")
		var err error
		var out string
		switch op {
		case "read":
			var b []byte
			b, err = os.ReadFile(rest)
			out = fmt.Sprintf("%q", b)
		case "write":
			path, text, _ := strings.Cut(rest, ":")
			err = os.WriteFile(path, []byte(text), 0o644)
			rest = path
		case "mkdir":
			err = os.Mkdir(rest, 0o755)
		case "rename":
			from, to, _ := strings.Cut(rest, ":")
			err = os.Rename(from, to)
			rest = to
		case "symlink":
			target, link, _ := strings.Cut(rest, ":")
			err = os.Symlink(target, link)
			rest = link
		case "stat":
			var fi os.FileInfo
			fi, err = os.Stat(rest)
			if err == nil {
				out = fi.Mode().String()
			}
		case "ls":
			var es []os.DirEntry
			es, err = os.ReadDir(rest)
			for _, e := range es {
				out += e.Name() + " "
			}
		case "connect":
			conn, cerr := airlocknet.Dial("tcp", rest)
			if err = cerr; err == nil {
				out, err = bufio.NewReader(conn).ReadString('\n')
				out = strings.TrimSpace(out)
				conn.Close()
			}
		case "env":
			out = fmt.Sprint(len(os.Environ()))
		default:
			fmt.Printf("unknown action %q\n", arg)
			os.Exit(2)
		}
		if err != nil {
			fmt.Printf("%s %s err %v\n", op, rest, err)
		} else {
			fmt.Printf("%s %s ok %s\n", op, rest, out)
		}
	}
}
