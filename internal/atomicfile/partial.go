package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Resume starts or continues writing path through a temporary file of a
// fixed name beside it, [PartialName](path, tag), mode 0600, so that a
// download cut short leaves its bytes for the next run: it returns the
// file positioned at its end and how many bytes it holds. The caller
// checks the whole file, those bytes included, before [File.Commit] puts
// it in place; [File.Abort] removes it (bytes that failed a check);
// [File.Keep] closes it and leaves it for the next run. tag tells two
// files meant for the same name apart (a digest), so a run never
// continues another file's bytes. Anything other than a regular file at
// the temporary name is not touched.
func Resume(path, tag string) (*File, int64, error) {
	if path == "" {
		return nil, 0, errors.New("no output file name")
	}
	tmp := PartialName(path, tag)
	if fi, err := os.Lstat(tmp); err == nil && !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("cannot write %s: %s is not a regular file: remove it", path, tmp)
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	// An earlier run made it 0600; a file someone else put there is made
	// so before a byte is written.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &File{File: f, path: path}, n, nil
}

// PartialName is the temporary file [Resume] writes path through: a
// hidden name in path's directory.
func PartialName(path, tag string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+tag+".partial")
}

// Truncate cuts the file to n bytes and positions it there: what a
// writer keeps of the bytes a resumed file held.
func (o *File) Truncate(n int64) error {
	if err := o.File.Truncate(n); err != nil {
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if _, err := o.Seek(n, io.SeekStart); err != nil {
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	return nil
}

// Keep closes a file made by [Resume] without putting it in place or
// removing it, so that the next run continues it; its bytes are made
// durable first, and if they cannot be, the file is removed. After
// Commit or Abort it does nothing.
func (o *File) Keep() error {
	if o == nil || o.done {
		return nil
	}
	o.done = true
	err := o.Sync()
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(o.Name())
		return fmt.Errorf("keeping %s for the next run: %w (removed)", o.Name(), err)
	}
	return nil
}
