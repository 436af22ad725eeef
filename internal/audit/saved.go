package audit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/verify"
)

// ErrSavedAhead means a saved verifier state holds more entries than the
// checkpoint being verified: a state of another log, or a log rolled back.
var ErrSavedAhead = errors.New("the saved verifier state is past the checkpoint")

// open starts a verifier: from the saved state if there is one.
func open(vo verify.Options, saved SavedState) (*verify.Verifier, error) {
	if saved == nil {
		return verify.New(vo)
	}
	r, err := saved.Load()
	if err != nil {
		return nil, fmt.Errorf("the saved verifier state: %w", err)
	}
	if r == nil {
		return verify.New(vo)
	}
	defer r.Close()
	return verify.Resume(r, vo)
}

// expect checks, before any entry is pushed, that a verifier resumed at
// start entries can reach size entries, and, if it is there already, that
// its entries hash to root (if not nil).
func expect(v *verify.Verifier, start, size uint64, root []byte) error {
	switch {
	case start > size:
		return fmt.Errorf("%w: it holds %d entries, the checkpoint %d (a state of another log, or the log rolled back)", ErrSavedAhead, start, size)
	case root == nil || start < size:
		return nil
	}
	return checkRoot(v, root)
}

// checkRoot checks that the entries verified hash to root, the signed
// checkpoint's.
func checkRoot(v *verify.Verifier, root []byte) error {
	got, err := v.Root()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, root) {
		return fmt.Errorf("the entries hash to a root other than the signed checkpoint's (size %d)", v.Size())
	}
	return nil
}
