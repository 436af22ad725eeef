package pagecache

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// behind starts the writeback of what was written since the last call,
// then waits on what is more than a window older and drops it from the
// cache: the disk has a window's time to catch up before a write waits.
func (w *Writer) behind() error {
	fd := int(w.f.Fd())
	if err := unix.SyncFileRange(fd, w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return w.unsupported(err)
	}
	if to := w.started - Window; to > w.dropped {
		const wait = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		if err := unix.SyncFileRange(fd, w.dropped, to-w.dropped, wait); err != nil {
			return w.unsupported(err)
		}
		drop(w.f, w.dropped, to-w.dropped)
		w.dropped = to
	}
	w.started = w.off
	return nil
}

// unsupported turns write-behind off where the file or system has no
// sync_file_range, and returns any other error (an I/O error of the
// writeback), which the caller must see.
func (w *Writer) unsupported(err error) error {
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ESPIPE) {
		w.plain = true
		return nil
	}
	return err
}

// drop drops n bytes of f from off on from the page cache: advice only,
// an error changes nothing read or written.
func drop(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}

// adviseSequential tells the kernel the section is read once, in order
// (a larger readahead).
func adviseSequential(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_SEQUENTIAL)
}

// fdatasync flushes f's data, and the metadata needed to read it, to the
// disk. The descriptor is not released while it runs (RawConn.Control
// holds it): a Close meanwhile returns at once, and the descriptor is
// closed when the sync ends, its number never reused before.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fdatasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}
