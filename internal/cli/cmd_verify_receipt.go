package cli

import (
	"flag"
	"fmt"
	"os"

	"github.com/mvm-exchange/mvm/internal/entry"
)

// verifyReceiptCmd verifies a receipt offline.
type verifyReceiptCmd struct {
	logKey string
}

func (c *verifyReceiptCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.logKey, "log-key", "", "pinned log verifier key (default CERTS/log.vkey)")
}

func (c *verifyReceiptCmd) run(e *env, args []string) error {
	if err := exactly(1, args, "the receipt FILE"); err != nil {
		return err
	}
	key, err := e.logVerifier(c.logKey)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	r, err := key.receipt(b)
	if err != nil {
		return fmt.Errorf("receipt does not verify: %w", err)
	}
	e.printf("receipt OK: entry %d is in %s at size %d (root %x)\n", r.Index, r.Checkpoint.Origin, r.Checkpoint.Size, r.Checkpoint.Hash)
	if ent, err := entry.DecodeLeaf(r.Leaf); err == nil && ent.Index == r.Index {
		e.printf("%s\n", describeEntry(r.Index, r.Leaf))
	} else {
		return fmt.Errorf("receipt verifies, but its leaf is not entry %d of this log", r.Index)
	}
	return nil
}
