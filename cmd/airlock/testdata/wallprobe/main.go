// Command wallprobe is a test guest for the second wall: it calls the host
// functions of an airlock built with -tags airlock_wallprobe, which act by
// host path and address past airlock's filesystem layer and network policy,
// and prints what the kernel answered:
//
//	wallprobe read PATH | append PATH | list PATH | connect HOST:PORT ...
//
// Each line of output is "OP TARGET: ok" or "OP TARGET: errno N".
package main

import (
	"fmt"
	"os"
	"unsafe"
)

//go:wasmimport airlock_wallprobe open
func hostOpen(ptr unsafe.Pointer, n uint32, how uint32) uint32

//go:wasmimport airlock_wallprobe connect
func hostConnect(ptr unsafe.Pointer, n uint32) uint32

func main() {
	args := os.Args[1:]
	for len(args) >= 2 {
		op, target := args[0], args[1]
		args = args[2:]
		b := []byte(target)
		var errno uint32
		switch op {
		case "read":
			errno = hostOpen(unsafe.Pointer(&b[0]), uint32(len(b)), 0)
		case "append":
			errno = hostOpen(unsafe.Pointer(&b[0]), uint32(len(b)), 1)
		case "list":
			errno = hostOpen(unsafe.Pointer(&b[0]), uint32(len(b)), 2)
		case "connect":
			errno = hostConnect(unsafe.Pointer(&b[0]), uint32(len(b)))
		default:
			fmt.Fprintln(os.Stderr, "unknown op", op)
			os.Exit(2)
		}
		if errno == 0 {
			fmt.Printf("%s %s: ok\n", op, target)
		} else {
			fmt.Printf("%s %s: errno %d\n", op, target, errno)
		}
	}
}
