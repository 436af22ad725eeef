package witness

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the metadata needed to read it back, not
// its times): FileState overwrites a slot of a file whose size never
// changes.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
