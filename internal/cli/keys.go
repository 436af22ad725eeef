package cli

import (
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
)

// The caller's decryption keys, one helper for every command that opens or
// seals bodies (show, list, watch, breaches, audit, the package commands).
// A party holds its current key and, after a rotation, its older ones: a
// wrapped package key names the key id it was made for, and the keyring
// picks the key by that id, so giving every key is always safe.

// keyFlag registers --key on a command.
func keyFlag(fs *flag.FlagSet, keys *stringList) {
	fs.Var(keys, "key", "decryption key `FILE` of your party, or a directory of key files (repeatable: keep rotated keys to read older packages; default CERTS/seal-<party>.key)")
}

// useKeys makes the --key files and directories given the command's,
// once each reads as decryption keys: a mistyped --key fails the command
// before anything is sent or shown, never as headers shown instead.
func (e *env) useKeys(given []string) error {
	if len(given) == 0 {
		return nil
	}
	if _, err := e.loadKeyring("", given); err != nil {
		return err
	}
	e.keyFiles = given
	return nil
}

// defaultKeyFile is where gen-certs writes party's decryption key.
func (e *env) defaultKeyFile(party string) string {
	return filepath.Join(e.certs, devpki.SealKeyFile(party))
}

// loadKeyring returns party's keyring from the --key files and
// directories given, else from CERTS/seal-<party>.key; nil (no error)
// when none is given and that file does not exist.
func (e *env) loadKeyring(party string, given []string) (*message.Keyring, error) {
	if len(given) == 0 {
		def := e.defaultKeyFile(party)
		if _, err := os.Stat(def); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		given = []string{def}
	}
	var files []string
	for _, g := range given {
		fi, err := os.Stat(g)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, g)
			continue
		}
		found, err := sealKeysIn(g)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	kr, err := mvmclient.LoadKeyring(party, files...)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return kr, nil
}

// sealKeysIn lists the decryption key files of a directory: its *.key
// files whose PEM block is a seal key (a certs directory also holds TLS
// keys, which are skipped).
func sealKeysIn(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	var out []string
	for _, de := range ents {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".key") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		if blk, _ := pem.Decode(b); blk != nil && blk.Type == seal.PEMType {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--key %s: the directory holds no decryption key file (*.key, PEM %q)", dir, seal.PEMType)
	}
	slices.Sort(out)
	return out, nil
}
