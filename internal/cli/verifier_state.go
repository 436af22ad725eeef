package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
)

// verifierStateSuffix names the verifier state kept beside --state FILE:
// FILE.verifier.
const verifierStateSuffix = ".verifier"

// verifierState is the saved state of the verifier of the commands that
// derive the agreements from the log (show, amend, checkpoint, watch with
// --state; audit.Options.Saved): the tree's edge, the agreement entries
// and every package's entry indexes as of the last checkpoint verified,
// so that the next run verifies only the entries logged since, and show
// finds a package's entries without reading the log again. The file is
// checked (format, SHA-256, the agreements again from the pinned genesis,
// the entries after it against the next signed checkpoint's root), and
// refused with an error naming it if it does not pass; like --state, it is
// kept where the client keeps its trust anchors (it is no signature).
type verifierState struct{ path string }

func (s verifierState) Load() (io.ReadCloser, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s verifierState) Store(save func(io.Writer) error) error {
	err := writeOut(s.path, func(f *atomicfile.File) error { return save(f) })
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}
