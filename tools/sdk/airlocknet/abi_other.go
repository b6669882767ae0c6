//go:build !wasip1

package airlocknet

import (
	"errors"
	"fmt"
	"unsafe"
)

// On other systems than wasip1 there is no airlock host: every call fails
// with ENOSYS, which the package reports as ErrUnavailable. This file lets
// tools that use the package build, vet and test natively.

func abiResolve(unsafe.Pointer, uint32, uint32, uint32, unsafe.Pointer, uint32, unsafe.Pointer) uint32 {
	return eNOSYS
}
func abiConnect(unsafe.Pointer, uint32, uint32, uint32, int32, unsafe.Pointer) uint32 { return eNOSYS }
func abiRead(uint32, unsafe.Pointer, uint32, int32, unsafe.Pointer) uint32            { return eNOSYS }
func abiWrite(uint32, unsafe.Pointer, uint32, int32, unsafe.Pointer) uint32           { return eNOSYS }
func abiShutdown(uint32, uint32) uint32                                               { return eNOSYS }
func abiClose(uint32) uint32                                                          { return eNOSYS }
func abiPeerAddr(uint32, unsafe.Pointer, uint32, unsafe.Pointer) uint32               { return eNOSYS }
func abiHTTPRequest(unsafe.Pointer, uint32, int64, int32, unsafe.Pointer) uint32      { return eNOSYS }
func abiHTTPBodyWrite(uint32, unsafe.Pointer, uint32, unsafe.Pointer) uint32          { return eNOSYS }
func abiHTTPBodyClose(uint32) uint32                                                  { return eNOSYS }
func abiHTTPResponse(uint32, int32, unsafe.Pointer, unsafe.Pointer, uint32, unsafe.Pointer) uint32 {
	return eNOSYS
}
func abiHTTPRead(uint32, unsafe.Pointer, uint32, int32, unsafe.Pointer) uint32 { return eNOSYS }
func abiHTTPClose(uint32) uint32                                               { return eNOSYS }

func errnoError(e uint32) error {
	if e == eNOSYS {
		return ErrUnavailable
	}
	return fmt.Errorf("airlock errno %d: %w", e, errors.ErrUnsupported)
}
