package host

import experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

// wasiErrno is a WASI preview 1 errno.
type wasiErrno uint16

const (
	errSUCCESS     wasiErrno = 0
	errACCES       wasiErrno = 2
	errAGAIN       wasiErrno = 6
	errBADF        wasiErrno = 8
	errEXIST       wasiErrno = 20
	errFAULT       wasiErrno = 21
	errFBIG        wasiErrno = 22
	errINTR        wasiErrno = 27
	errINVAL       wasiErrno = 28
	errIO          wasiErrno = 29
	errISDIR       wasiErrno = 31
	errLOOP        wasiErrno = 32
	errMFILE       wasiErrno = 33
	errNAMETOOLONG wasiErrno = 37
	errNOENT       wasiErrno = 44
	errNOSYS       wasiErrno = 52
	errNOTDIR      wasiErrno = 54
	errNOTEMPTY    wasiErrno = 55
	errNOTSOCK     wasiErrno = 57
	errNOTSUP      wasiErrno = 58
	errPERM        wasiErrno = 63
	errRANGE       wasiErrno = 68
	errROFS        wasiErrno = 69
	errSPIPE       wasiErrno = 70
	errXDEV        wasiErrno = 75
	errNOTCAPABLE  wasiErrno = 76
)

// toWASIErrno maps wazero's errno (what FS and its files return) to WASI's.
func toWASIErrno(e experimentalsys.Errno) wasiErrno {
	switch e {
	case 0:
		return errSUCCESS
	case experimentalsys.EACCES:
		return errACCES
	case experimentalsys.EAGAIN:
		return errAGAIN
	case experimentalsys.EBADF:
		return errBADF
	case experimentalsys.EEXIST:
		return errEXIST
	case experimentalsys.EFAULT:
		return errFAULT
	case experimentalsys.EINTR:
		return errINTR
	case experimentalsys.EINVAL:
		return errINVAL
	case experimentalsys.EIO:
		return errIO
	case experimentalsys.EISDIR:
		return errISDIR
	case experimentalsys.ELOOP:
		return errLOOP
	case experimentalsys.ENAMETOOLONG:
		return errNAMETOOLONG
	case experimentalsys.ENOENT:
		return errNOENT
	case experimentalsys.ENOSYS:
		return errNOSYS
	case experimentalsys.ENOTDIR:
		return errNOTDIR
	case experimentalsys.ERANGE:
		return errRANGE
	case experimentalsys.ENOTEMPTY:
		return errNOTEMPTY
	case experimentalsys.ENOTSOCK:
		return errNOTSOCK
	case experimentalsys.ENOTSUP:
		return errNOTSUP
	case experimentalsys.EPERM:
		return errPERM
	case experimentalsys.EROFS:
		return errROFS
	}
	return errIO
}
