package pagecache

import "os"

// SetSyncs makes every Writer's background syncs call datasync and its
// Sync call fsync instead of the system's (nil: the system's), until
// the function it returns is called. It is for tests, here and in the
// packages that write through a Writer, to inject the I/O error a disk
// reports; it must not be called while a Writer is in use.
func SetSyncs(datasyncFn, fsyncFn func(*os.File) error) (restore func()) {
	oldD, oldF := datasync.Load(), fsync.Load()
	if datasyncFn != nil {
		datasync.Store(datasyncFn)
	}
	if fsyncFn != nil {
		fsync.Store(fsyncFn)
	}
	return func() {
		datasync.Store(oldD)
		fsync.Store(oldF)
	}
}
