//go:build !linux

package pagecache

import "os"

// behind: no write-behind without Linux's sync_file_range.
func (w *Writer) behind() error {
	w.plain = true
	return nil
}

func drop(*os.File, int64, int64)             {}
func adviseSequential(*os.File, int64, int64) {}

func fdatasync(f *os.File) error { return f.Sync() }
