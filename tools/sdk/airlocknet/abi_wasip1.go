//go:build wasip1

package airlocknet

import (
	"syscall"
	"unsafe"
)

// The imports of airlock's network ABI, module airlock_net_v1
// (docs/network-abi.md). Each returns a WASI errno.

//go:wasmimport airlock_net_v1 resolve
func abiResolve(name unsafe.Pointer, nameLen, port, scheme uint32, out unsafe.Pointer, outCap uint32, outLen unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 connect
func abiConnect(host unsafe.Pointer, hostLen, port, scheme uint32, timeoutMs int32, handle unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 read
func abiRead(handle uint32, buf unsafe.Pointer, bufLen uint32, timeoutMs int32, n unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 write
func abiWrite(handle uint32, buf unsafe.Pointer, bufLen uint32, timeoutMs int32, n unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 shutdown
func abiShutdown(handle, how uint32) uint32

//go:wasmimport airlock_net_v1 close
func abiClose(handle uint32) uint32

//go:wasmimport airlock_net_v1 peer_addr
func abiPeerAddr(handle uint32, out unsafe.Pointer, outCap uint32, outLen unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_request
func abiHTTPRequest(req unsafe.Pointer, reqLen uint32, bodyLen int64, timeoutMs int32, handle unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_body_write
func abiHTTPBodyWrite(handle uint32, buf unsafe.Pointer, bufLen uint32, n unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_body_close
func abiHTTPBodyClose(handle uint32) uint32

//go:wasmimport airlock_net_v1 http_response
func abiHTTPResponse(handle uint32, timeoutMs int32, status unsafe.Pointer, headers unsafe.Pointer, headersCap uint32, headersLen unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_read
func abiHTTPRead(handle uint32, buf unsafe.Pointer, bufLen uint32, timeoutMs int32, n unsafe.Pointer) uint32

//go:wasmimport airlock_net_v1 http_close
func abiHTTPClose(handle uint32) uint32

// errnoError is the error for a WASI errno: on wasip1 a syscall.Errno, so
// errors.Is(err, fs.ErrPermission), os.IsTimeout and friends work.
func errnoError(e uint32) error { return syscall.Errno(e) }
