package host

import (
	"strconv"

	"github.com/tetratelabs/wazero/api"
)

// netErrno is what every function of the network ABI returns: a WASI
// preview 1 errno, so that a Go guest can use it as a syscall.Errno and a C
// guest as an errno value of wasi-libc. docs/network-abi.md lists which
// function returns which.
type netErrno uint32

// The errnos of the network ABI, numbered as in WASI preview 1.
const (
	netOK           netErrno = 0
	netE2BIG        netErrno = 1
	netEACCES       netErrno = 2
	netEAGAIN       netErrno = 6
	netEBADF        netErrno = 8
	netECANCELED    netErrno = 11
	netECONNREFUSED netErrno = 14
	netECONNRESET   netErrno = 15
	netEFAULT       netErrno = 21
	netEFBIG        netErrno = 22
	netEHOSTUNREACH netErrno = 23
	netEINVAL       netErrno = 28
	netEIO          netErrno = 29
	netEMFILE       netErrno = 33
	netENETUNREACH  netErrno = 40
	netENOBUFS      netErrno = 42
	netENOENT       netErrno = 44
	netENOTCONN     netErrno = 53
	netEPIPE        netErrno = 64
	netEPROTO       netErrno = 65
	netETIMEDOUT    netErrno = 73
	netENOTCAPABLE  netErrno = 76
)

var netErrnoNames = map[netErrno]string{
	netOK: "OK", netE2BIG: "E2BIG", netEACCES: "EACCES", netEAGAIN: "EAGAIN", netEBADF: "EBADF",
	netECANCELED: "ECANCELED", netECONNREFUSED: "ECONNREFUSED", netECONNRESET: "ECONNRESET",
	netEFAULT: "EFAULT", netEFBIG: "EFBIG", netEHOSTUNREACH: "EHOSTUNREACH", netEINVAL: "EINVAL",
	netEIO: "EIO", netEMFILE: "EMFILE", netENETUNREACH: "ENETUNREACH", netENOBUFS: "ENOBUFS",
	netENOENT: "ENOENT", netENOTCONN: "ENOTCONN", netEPIPE: "EPIPE", netEPROTO: "EPROTO",
	netETIMEDOUT: "ETIMEDOUT", netENOTCAPABLE: "ENOTCAPABLE",
}

func (e netErrno) String() string {
	if s, ok := netErrnoNames[e]; ok {
		return s
	}
	return "errno(" + strconv.Itoa(int(e)) + ")"
}

// Bounds on what a guest may pass, so that a mistaken or hostile length can
// never make the host allocate or copy much.
const (
	netMaxHost    = 255      // a host name (DNS allows 253) or IP literal
	netMaxRequest = 64 << 10 // the encoded head of an HTTP request
	netMaxIO      = 16 << 20 // one read or write; longer ones are cut to this
)

// netMem reads and writes the guest's linear memory with every bound
// checked: each function of the ABI decodes its arguments through it, so a
// bad pointer or length is an errno and never a panic of the host.
type netMem struct{ m api.Memory }

func netMemOf(mod api.Module) netMem {
	if mod == nil {
		return netMem{}
	}
	return netMem{mod.Memory()}
}

// view returns the n bytes at ptr, aliasing guest memory: valid only until
// the host function returns, never to be kept or handed to a goroutine.
// n may not exceed max (E2BIG); a range outside memory is EFAULT.
func (g netMem) view(ptr, n, max uint32) ([]byte, netErrno) {
	if n > max {
		return nil, netE2BIG
	}
	if g.m == nil {
		return nil, netEFAULT
	}
	if uint64(ptr)+uint64(n) > uint64(g.m.Size()) {
		return nil, netEFAULT
	}
	if n == 0 {
		return nil, netOK
	}
	b, ok := g.m.Read(ptr, n)
	if !ok {
		return nil, netEFAULT
	}
	return b, netOK
}

// ioView is view for a read or write buffer: a length beyond netMaxIO is
// cut to it (the call then moves fewer bytes, as read and write may).
func (g netMem) ioView(ptr, n uint32) ([]byte, netErrno) {
	if n > netMaxIO {
		n = netMaxIO
	}
	return g.view(ptr, n, netMaxIO)
}

// str copies the n bytes at ptr into a string.
func (g netMem) str(ptr, n, max uint32) (string, netErrno) {
	b, e := g.view(ptr, n, max)
	if e != netOK {
		return "", e
	}
	return string(b), netOK
}

// writable checks that n bytes at ptr can be written, before the host does
// anything it would have to undo.
func (g netMem) writable(ptr, n uint32) netErrno {
	if g.m == nil || uint64(ptr)+uint64(n) > uint64(g.m.Size()) {
		return netEFAULT
	}
	return netOK
}

func (g netMem) putU32(ptr, v uint32) netErrno {
	if g.writable(ptr, 4) != netOK || !g.m.WriteUint32Le(ptr, v) {
		return netEFAULT
	}
	return netOK
}

// put copies b into guest memory at ptr.
func (g netMem) put(ptr uint32, b []byte) netErrno {
	if uint64(len(b)) > 1<<32 || g.writable(ptr, uint32(len(b))) != netOK {
		return netEFAULT
	}
	if len(b) > 0 && !g.m.Write(ptr, b) {
		return netEFAULT
	}
	return netOK
}
