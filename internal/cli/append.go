package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

func receiptFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "receipt", "", "write the receipt (C2SP tlog-proof) to `FILE` (mode 0600)")
}

func evidenceFlag(fs *flag.FlagSet, p *stringList, required string) {
	fs.Var(p, "evidence", "`SHA256` hex digest of an evidence file (repeatable"+required+")")
}

func required(flagName, v string) error {
	if v == "" {
		return usagef("--%s is required", flagName)
	}
	return nil
}

// messageFlags is the flags struct of a command that appends one message
// about a package (ack, report, rfi, ...): its message is built from its
// flags and the package ID.
type messageFlags interface {
	register(fs *flag.FlagSet)
	message(id string) (proto.Message, error)
}

// aboutPackage makes m a command: its flags and --receipt, and a run that
// takes the package ID, the one positional argument, and appends m's
// message about it.
func aboutPackage(m messageFlags) commandFlags { return &packageMessage{m: m} }

type packageMessage struct {
	m       messageFlags
	receipt string
	keys    stringList // a sealed package's key is unwrapped with them
}

func (p *packageMessage) register(fs *flag.FlagSet) {
	p.m.register(fs)
	receiptFlag(fs, &p.receipt)
	keyFlag(fs, &p.keys)
}

func (p *packageMessage) run(e *env, args []string) error {
	if err := exactly(1, args, "the package ID"); err != nil {
		return err
	}
	m, err := p.m.message(args[0])
	if err != nil {
		return err
	}
	if err := e.useKeys(p.keys); err != nil {
		return err
	}
	return e.appendAndPrint(p.receipt, m, args[0])
}

// appendAndPrint signs and appends m, verifies the receipt against the
// pinned log key when CERTS/log.vkey exists, writes it if asked, and
// prints the package id then the index.
func (e *env) appendAndPrint(receipt string, m proto.Message, packageID string) error {
	if err := checkMessage(m); err != nil {
		return err
	}
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if m, err = e.sealIfAgreed(c, m); err != nil {
		return err
	}
	env, err := c.Seal(m)
	if err != nil {
		return err
	}
	return e.appendSealed(receipt, c, env, packageID, workflow.ShortType(string(proto.MessageName(m))))
}

// appendSealed appends signed bytes and checks the receipt against them:
// the receipt's leaf must hold exactly the envelope sent, at the index the
// receipt proves, under a checkpoint signed by the pinned log key
// (CERTS/log.vkey). It prints the package id, then the verified index.
func (e *env) appendSealed(receiptPath string, c *mvmclient.Client, env []byte, packageID, what string) error {
	v, err := e.logVerifier("")
	checked := err == nil
	if errors.Is(err, os.ErrNotExist) {
		checked = false // no pinned key: the receipt is saved but not checked
	} else if err != nil {
		return err
	}
	send := func(receipt io.Writer) (string, error) {
		ctx, cancel := e.context()
		defer cancel()
		resp, err := c.AppendSealed(ctx, env)
		if err != nil {
			return "", err
		}
		r := resp.Receipt
		index, state := r.Index, " (receipt not verified: no pinned log key)"
		if checked {
			rec, err := v.receipt(r.TlogProof)
			if err != nil {
				return "", fmt.Errorf("the server's receipt does not verify: %w", err)
			}
			leaf, err := entry.DecodeLeaf(rec.Leaf)
			if err != nil || leaf.Index != rec.Index || !bytes.Equal(leaf.Envelope, env) {
				return "", fmt.Errorf("the server's receipt (index %d) is not for the envelope sent", rec.Index)
			}
			index, state = rec.Index, " (receipt verified)"
		}
		e.printf("%s\n", packageID)
		if receipt != nil {
			if _, err := receipt.Write(r.TlogProof); err != nil {
				return "", err
			}
		}
		dup := ""
		if resp.Duplicate {
			dup = " (already logged)"
		}
		return fmt.Sprintf("logged %s at index %d, %s%s%s\n", what, index, r.ReceivedAt.AsTime().Format("2006-01-02T15:04:05Z07:00"), dup, state), nil
	}
	var logged string
	if receiptPath == "" {
		logged, err = send(nil)
	} else {
		// The receipt file is begun first: failing after the append would
		// log the message and hide its id.
		begun := false
		err = writeOut(receiptPath, func(f *atomicfile.File) error {
			begun = true
			logged, err = send(f)
			return err
		})
		if !begun {
			err = fmt.Errorf("--receipt: %w", err)
		}
	}
	if err != nil {
		return err
	}
	e.printf("%s", logged)
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (s stringList) digests() ([][]byte, error) {
	var out [][]byte
	for _, h := range s {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, usagef("--evidence %q: want a 64-digit hex SHA-256 digest", h)
		}
		out = append(out, b)
	}
	return out, nil
}
