//go:build airlock_wallprobe

package main

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/internal/host"
)

// wallProbeFuncs, in a build for tests only (go build -tags
// airlock_wallprobe), gives every guest two host functions that act with
// plain os and net calls, by host path and address, past airlock's
// filesystem layer and network policy: a stand-in for a bug in either. The
// second wall's tests (wall_test.go) call them to show that the kernel
// still refuses what the wall does not list. Never built into airlock.
//
//	airlock_wallprobe.open(path_ptr, path_len, how) -> errno  (how: 0 read, 1 append, 2 list)
//	airlock_wallprobe.connect(addr_ptr, addr_len) -> errno
func wallProbeFuncs() []host.Func {
	i32 := api.ValueTypeI32
	str := func(m api.Module, ptr, n uint64) string {
		b, _ := m.Memory().Read(uint32(ptr), uint32(n))
		return string(b)
	}
	return []host.Func{
		{Module: "airlock_wallprobe", Name: "open", Params: []api.ValueType{i32, i32, i32}, Results: []api.ValueType{i32},
			Fn: api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				p := str(m, stack[0], stack[1])
				var err error
				switch uint32(stack[2]) {
				default:
					err = syscall.EINVAL
				case 0:
					_, err = os.ReadFile(p)
				case 1:
					var f *os.File
					if f, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
						_, err = f.WriteString("written past airlock's filesystem layer\n")
						f.Close()
					}
				case 2:
					_, err = os.ReadDir(p)
				}
				stack[0] = errnoOf(err)
			})},
		{Module: "airlock_wallprobe", Name: "connect", Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i32},
			Fn: api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				c, err := net.DialTimeout("tcp", str(m, stack[0], stack[1]), 2*time.Second)
				if err == nil {
					c.Close()
				}
				stack[0] = errnoOf(err)
			})},
	}
}

func errnoOf(err error) uint64 {
	var e syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return uint64(e)
	}
	return uint64(syscall.EIO)
}
