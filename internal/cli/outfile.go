package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Every file a command writes (bundles, receipts, amendment proposals,
// backups, audit state, bench receipts and profiles) goes through outFile:
// they hold log content or signatures a party relies on, so they are
// readable by their owner only (0600), and a reader never sees half of one.
// The bytes go to a temporary file beside the final name; only Commit makes
// them durable (fsync) and puts them in place (rename, then fsync of the
// directory). A command that fails calls Abort, which removes the temporary
// file: the final name keeps what it held before, or stays absent.

// outFile is a file being written under its final name's directory.
type outFile struct {
	*os.File
	path string // the final name
	done bool   // committed or aborted
}

// createOut starts writing path. Call it before anything irreversible (an
// append, a signature), so that a name that cannot be written is found out
// first; then Commit on success and Abort (deferred) in any case.
func createOut(path string) (*outFile, error) {
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
	return &outFile{File: f, path: path}, nil
}

// Commit makes the file durable and gives it its final name.
func (o *outFile) Commit() error {
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
func (o *outFile) Abort() {
	if o == nil || o.done {
		return
	}
	o.done = true
	o.Close()
	os.Remove(o.Name())
}

// writeFileAtomic writes data to path through an outFile.
func writeFileAtomic(path string, data []byte) error {
	o, err := createOut(path)
	if err != nil {
		return err
	}
	defer o.Abort()
	if _, err := o.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return o.Commit()
}
