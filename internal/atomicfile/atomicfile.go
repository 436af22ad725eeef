// Package atomicfile writes files that a reader never sees half written:
// the bytes go to a temporary file (mode 0600) beside the final name, and
// only [File.Commit] makes them durable (fsync) and puts them in place
// (rename, then fsync of the directory). A writer that fails calls
// [File.Abort], which removes the temporary file: the final name keeps
// what it held before, or stays absent.
//
// A download that may be cut short writes through [Resume] instead: its
// temporary file has a fixed name, [File.Keep] leaves it for the next
// run, and the next [Resume] continues it. Its bytes are the caller's to
// check, all of them, before Commit: the guarantee above is unchanged.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is a file being written under its final name's directory.
type File struct {
	*os.File
	path string // the final name
	done bool   // committed or aborted
}

// Create starts writing path, mode 0600. Call it before anything
// irreversible (an append, a signature), so that a name that cannot be
// written is found out first; then Commit on success and Abort (deferred)
// in any case.
func Create(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("no output file name")
	}
	// CreateTemp makes the file with mode 0600.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temporary name means nothing to the user
		}
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &File{File: f, path: path}, nil
}

// Commit makes the file durable and gives it its final name.
func (o *File) Commit() error {
	if o.done {
		return fmt.Errorf("%s: already committed or aborted", o.path)
	}
	tmp := o.Name()
	err := o.Sync()
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, o.path)
	}
	if err != nil {
		os.Remove(tmp)
		o.done = true
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	o.done = true
	// The rename is durable once the directory is.
	d, err := os.Open(filepath.Dir(o.path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	return nil
}

// Abort removes the temporary file; after Commit it does nothing.
func (o *File) Abort() {
	if o == nil || o.done {
		return
	}
	o.done = true
	o.Close()
	os.Remove(o.Name())
}

// WriteFile writes data to path with the given mode through a [File].
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	o, err := Create(path)
	if err != nil {
		return err
	}
	defer o.Abort()
	if mode != 0o600 {
		if err := o.Chmod(mode); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if _, err := o.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return o.Commit()
}
