package runtime

import (
	"os"
	"syscall"
)

func fileIDOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size,
		ctime: st.Ctim.Nano(), mtime: st.Mtim.Nano()}, true
}
