// Command guest is the test tool of the mcp package's tests, built for
// wasip1 once per test binary. Its first argument picks what it does:
//
//	echo         copy stdin to stdout (a JSON object in, the same out)
//	json         print {"ok":true,"args":[…the other arguments…]}
//	args         print each other argument on a line of its own
//	fail MSG     print MSG on stderr and exit 3
//	sleep MS     sleep MS milliseconds, then print "slept"
//	spin         loop forever (only a timeout or a cancellation stops it)
//	alloc MIB    allocate and touch MIB mebibytes, then print "allocated"
//	touch MIB    allocate MIB mebibytes and write one byte per 4 KiB page
//	             (every page resident, quickly), then print "touched"
//	flood BYTES  write BYTES bytes to stderr in 64 KiB chunks, then print "flooded"
//	noop         exit 0 at once
//	leave SECRET leave SECRET behind, if anything could keep it: in an 8 MiB
//	             heap buffer, in a global of the module's data (the
//	             memory image), in a zeroed global (the memory after it),
//	             in the environment, in an open file; print the buffer's
//	             address and the file's descriptor
//	look SECRET ADDR FD  report what of a leave run this run can see: the
//	             bytes at ADDR (after the same allocation), the two
//	             globals, the environment, descriptor FD
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

var sink int

var keep [][]byte

// dataMark is in the module's data, bssMark in the zeroed memory after it:
// leave writes its secret into both.
var (
	dataMark = [16]byte{'p', 'r', 'i', 's', 't', 'i', 'n', 'e'}
	bssMark  [64]byte
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "guest: no mode")
		os.Exit(2)
	}
	rest := os.Args[2:]
	switch os.Args[1] {
	case "echo":
		io.Copy(os.Stdout, os.Stdin)
	case "json":
		fmt.Print(`{"ok":true,"args":[`)
		for i, a := range rest {
			if i > 0 {
				fmt.Print(",")
			}
			fmt.Print(strconv.Quote(a))
		}
		fmt.Println("]}")
	case "args":
		for _, a := range rest {
			fmt.Println(a)
		}
	case "fail":
		fmt.Fprintln(os.Stderr, rest)
		os.Exit(3)
	case "sleep":
		ms, _ := strconv.Atoi(rest[0])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Println("slept")
	case "spin":
		for i := 0; ; i++ {
			sink += i
		}
	case "alloc":
		n, _ := strconv.Atoi(rest[0])
		var keep [][]byte
		for range n {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		sink = len(keep)
		fmt.Println("allocated")
	case "touch":
		n, _ := strconv.Atoi(rest[0])
		for range n {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("touched")
	case "flood":
		n, _ := strconv.ParseInt(rest[0], 10, 64)
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'e'
		}
		for w := int64(0); w < n; w += int64(len(chunk)) {
			os.Stderr.Write(chunk)
		}
		fmt.Println("flooded")
	case "noop":
	case "leave":
		secret := []byte(rest[0])
		buf := make([]byte, 8<<20)
		for i := 0; i+len(secret) <= len(buf); i += len(secret) {
			copy(buf[i:], secret)
		}
		copy(dataMark[:], secret)
		copy(bssMark[:], secret)
		os.Setenv("AIRLOCK_LEFT", rest[0])
		f, err := os.Open("/work/notes.txt")
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		keep = append(keep, buf)
		fmt.Printf("%d %d\n", uintptr(unsafe.Pointer(&buf[0])), f.Fd())
	case "look":
		secret := []byte(rest[0])
		addr, _ := strconv.ParseUint(rest[1], 10, 64)
		fd, _ := strconv.Atoi(rest[2])
		buf := make([]byte, 8<<20) // the same allocation as leave's
		keep = append(keep, buf)
		old := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), uintptr(addr))), 8<<20)
		fmt.Printf("memory:%v own-buffer:%v data:%q zeroed:%v env:%q fd:", bytes.Contains(old, secret), bytes.Contains(buf, secret),
			bytes.TrimRight(dataMark[:], "\x00"), bssMark == [64]byte{}, os.Getenv("AIRLOCK_LEFT"))
		if _, err := syscall.Read(fd, make([]byte, 8)); err != nil {
			fmt.Println("closed")
		} else {
			fmt.Println("open")
		}
	default:
		fmt.Fprintln(os.Stderr, "guest: unknown mode", os.Args[1])
		os.Exit(2)
	}
}
