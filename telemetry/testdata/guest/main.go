// Command guest is the test guest of the telemetry package. Modes:
//
//	guest fs            write, read and stat files under /work, then try to
//	                    write /work/.git/x (denied by the default policy)
//	guest exit N        print a line and exit with status N (proc_exit)
//	guest hot N write   N one-byte writes to /work/hot.txt (N fd_write calls)
//	guest hot N stdout  N one-byte writes to stdout
//	guest hot N clock   N clock readings (2N clock_time_get calls)
//	guest spin          print a line, then read the clock until stopped
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guest fs | exit N | hot N write|stdout|clock")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "fs":
		fsMode()
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println("exiting")
		os.Exit(n)
	case "spin":
		fmt.Println("spinning")
		spin()
	case "hot":
		n, _ := strconv.Atoi(os.Args[2])
		hot(n, os.Args[3])
	}
}

func fsMode() {
	if err := os.WriteFile("/work/out.txt", []byte("hello, telemetry\n"), 0o644); err != nil {
		fmt.Println("write:", err)
		os.Exit(1)
	}
	b, err := os.ReadFile("/work/out.txt")
	if err != nil {
		fmt.Println("read:", err)
		os.Exit(1)
	}
	if _, err := os.Stat("/work/missing.txt"); err == nil {
		fmt.Println("missing.txt exists")
		os.Exit(1)
	}
	if err := os.WriteFile("/work/.git/x", []byte("nope"), 0o644); err == nil {
		fmt.Println("wrote /work/.git/x")
		os.Exit(1)
	}
	fmt.Printf("read %d bytes\n", len(b))
}

func hot(n int, kind string) {
	one := []byte{'x'}
	switch kind {
	case "write":
		f, err := os.Create("/work/hot.txt")
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for i := 0; i < n; i++ {
			f.Write(one)
		}
		f.Close()
	case "stdout":
		for i := 0; i < n; i++ {
			os.Stdout.Write(one)
		}
	case "clock":
		var t time.Time
		for i := 0; i < n; i++ {
			t = time.Now()
		}
		_ = t
	}
}
