package witness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
)

// State is where a witness keeps the latest checkpoint it cosigned, for one
// log. Save must be durable when it returns: the witness cosigns only
// after it, so a restart never forgets a checkpoint it cosigned.
type State interface {
	// Load returns the latest saved signed checkpoint, nil if none.
	Load() ([]byte, error)
	// Save durably replaces it.
	Save(checkpoint []byte) error
}

// FileState is a [State] in one file, replaced atomically (temporary file,
// fsync, rename, fsync of the directory).
type FileState string

// Load reads the file; a missing file is no checkpoint yet.
func (f FileState) Load() ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness state: %w", err)
	}
	return b, nil
}

// Save writes the file durably.
func (f FileState) Save(checkpoint []byte) error {
	if err := atomicfile.WriteFile(string(f), checkpoint, 0o600); err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return nil
}
