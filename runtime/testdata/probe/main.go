// Command probe is a test guest for the runtime: each argv[1] is one
// behaviour the tests check from the host side.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe ACTION [ARGS]")
		os.Exit(2)
	}
	arg := func(i int) string {
		if len(os.Args) > i+1 {
			return os.Args[i+1]
		}
		return ""
	}
	switch os.Args[1] {
	case "exit":
		n, _ := strconv.Atoi(arg(1))
		fmt.Println("exiting with", n)
		os.Exit(n)
	case "args":
		fmt.Println(strings.Join(os.Args[2:], "|"))
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	case "stdin":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "read stdin:", err)
			os.Exit(1)
		}
		fmt.Printf("%d bytes: %s", len(b), b)
	case "clock":
		// The wall clock as Unix nanoseconds, and how long a 50ms sleep took.
		start := time.Now()
		time.Sleep(50 * time.Millisecond)
		fmt.Println(time.Now().UnixNano(), time.Since(start).Nanoseconds())
	case "random":
		b := make([]byte, 16)
		rand.Read(b)
		fmt.Println(hex.EncodeToString(b))
	case "loop":
		fmt.Println("looping")
		x := 0
		for {
			x++
		}
	case "churn":
		// Write to memory for ever, never calling the host.
		b := make([]byte, 1<<20)
		for i := 0; ; i++ {
			b[i%len(b)]++
		}
	case "sleep":
		d, _ := time.ParseDuration(arg(1))
		time.Sleep(d)
		fmt.Println("slept")
	case "alloc":
		// Allocate N MiB, touching every page, and keep it alive.
		n, _ := strconv.Atoi(arg(1))
		var keep [][]byte
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep), "MiB")
	case "flood":
		// Write N bytes to stdout in 64 KiB chunks; report the first error.
		n, _ := strconv.ParseInt(arg(1), 10, 64)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for w := int64(0); w < n; w += int64(len(chunk)) {
			if _, err := os.Stdout.Write(chunk); err != nil {
				fmt.Fprintln(os.Stderr, "write error after", w, "bytes:", err)
				os.Exit(3)
			}
		}
	case "openmany":
		// Open the same file N times and report how many opens succeeded.
		n, _ := strconv.Atoi(arg(2))
		var files []*os.File
		var err error
		for i := 0; i < n; i++ {
			var f *os.File
			if f, err = os.Open(arg(1)); err != nil {
				break
			}
			files = append(files, f)
		}
		fmt.Println("opened", len(files), "error:", err)
	case "write":
		if err := os.WriteFile(arg(1), []byte(arg(2)), 0o644); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", arg(1))
	case "sleepwrite":
		// Sleep, then try to write a file: after a timeout revoked the
		// run's capabilities, the write must fail.
		d, _ := time.ParseDuration(arg(1))
		time.Sleep(d)
		err := os.WriteFile(arg(2), []byte("late"), 0o644)
		fmt.Println("write after sleep:", err)
	case "trywrite":
		// Try a write, report the error, and exit 0 either way.
		err := os.WriteFile(arg(1), []byte(arg(2)), 0o644)
		fmt.Println("write:", err)
	case "pagetimes":
		// Allocate N MiB without touching it, then read one byte of each
		// 4 KiB page, 64 KiB (one wasm page) at a time, and print the
		// address of the allocation and how many nanoseconds each 64 KiB
		// took: a page the kernel must fault in is slow, a resident one
		// is not. What a hostile tool would do to learn what the last run
		// of it left resident.
		n, _ := strconv.Atoi(arg(1))
		b := make([]byte, n<<20)
		var sum byte
		fmt.Print(uintptr(unsafe.Pointer(&b[0])))
		for off := 0; off < len(b); off += 64 << 10 {
			t0 := time.Now()
			for p := off; p < off+64<<10; p += 4096 {
				sum += b[p]
			}
			fmt.Print(" ", time.Since(t0).Nanoseconds())
		}
		fmt.Println()
		if sum != 0 {
			os.Exit(9)
		}
	case "read":
		b, err := os.ReadFile(arg(1))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Stdout.Write(b)
	default:
		fmt.Fprintln(os.Stderr, "probe: unknown action", os.Args[1])
		os.Exit(2)
	}
}
