package cli

import (
	"bytes"
	"context"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// backup receives the copy into a temporary file beside out, checks it,
// makes it durable and renames it into place: out is either the previous
// file or a complete, checked backup, never half of one.
func backup(ctx context.Context, c *mvmclient.Client, out string, e *env) error {
	v, err := e.logVerifier("")
	if err != nil {
		return err
	}
	var info *mvmclient.BackupInfo
	var cp *tlog.Checkpoint
	err = writeOut(out, func(f *atomicfile.File) error { // it holds the whole log
		if info, err = c.Backup(ctx, f); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		// The server's word is checked: its checkpoint verifies with the
		// pinned log key, and it is the one the copy holds for the size it
		// holds.
		if cp, err = v.checkpoint(info.Checkpoint); err != nil {
			return fmt.Errorf("the backup's checkpoint does not verify: %w", err)
		}
		if cp.Size != info.Size {
			return fmt.Errorf("the backup's checkpoint is of size %d, the server says the copy has %d entries", cp.Size, info.Size)
		}
		if err := checkCopy(f.Name(), info); err != nil {
			return fmt.Errorf("the backup file: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.printf("backup written to %s: %d bytes, checkpoint size %d, sha256 %x\n", out, info.Bytes, cp.Size, info.SHA256)
	return nil
}

// checkCopy opens the copy read-only: it must be a database whose size
// and latest checkpoint are the ones announced.
func checkCopy(path string, info *mvmclient.BackupInfo) error {
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	size, err := st.Size()
	if err != nil {
		return err
	}
	cpSize, cp, err := st.LatestCheckpoint()
	if err != nil {
		return err
	}
	if size != info.Size || cpSize != info.Size || !bytes.Equal(cp, info.Checkpoint) {
		return fmt.Errorf("holds %d entries and a checkpoint of size %d, not the announced %d", size, cpSize, info.Size)
	}
	return nil
}
