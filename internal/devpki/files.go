package devpki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/envelope"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// file is one output file.
type file struct {
	name string
	data []byte
	mode fs.FileMode
}

// readTrustDomain reads the trust domain of the agreement in dir. It does not
// verify the agreement's signatures: the directory is trusted by whoever runs
// the generator.
func readTrustDomain(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, agreementFile))
	if err != nil {
		return "", fmt.Errorf("devpki: reading the trust domain: %w (generate the PKI first)", err)
	}
	env, err := envelope.Parse(b)
	if err != nil {
		return "", fmt.Errorf("devpki: %s: %w", agreementFile, err)
	}
	ag := &mvmv1.Agreement{}
	if err := proto.Unmarshal(env.Payload, ag); err != nil {
		return "", fmt.Errorf("devpki: %s payload: %w", agreementFile, err)
	}
	if ag.TrustDomain == "" {
		return "", fmt.Errorf("devpki: %s has no trust domain", agreementFile)
	}
	return ag.TrustDomain, nil
}

func loadCA(dir, name string) (keyPair, error) {
	tc, err := LoadKeyPair(dir, name)
	if err != nil {
		return keyPair{}, err
	}
	key, ok := tc.PrivateKey.(ed25519.PrivateKey)
	if !ok {
		return keyPair{}, fmt.Errorf("devpki: %s.key is %T, want an Ed25519 key", name, tc.PrivateKey)
	}
	if !tc.Leaf.IsCA {
		return keyPair{}, fmt.Errorf("devpki: %s.crt is not a CA certificate", name)
	}
	return keyPair{tc.Leaf, key}, nil
}

// LoadKeyPair loads DIR/<name>.crt and DIR/<name>.key (PEM) as a TLS
// certificate with Leaf set.
func LoadKeyPair(dir, name string) (tls.Certificate, error) {
	crt, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	tc, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devpki: loading %s: %w", name, err)
	}
	if tc.Leaf == nil {
		if tc.Leaf, err = x509.ParseCertificate(tc.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("devpki: loading %s: %w", crt, err)
		}
	}
	return tc, nil
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func encodeKey(k crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// refuseExisting fails if any of files exists in dir.
func refuseExisting(dir string, files []file) error {
	var present []string
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(dir, f.name))
		switch {
		case err == nil:
			present = append(present, f.name)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("devpki: %w", err)
		}
	}
	if len(present) > 0 {
		sort.Strings(present)
		what := strings.Join(present, ", ")
		if len(present) > 3 {
			what = fmt.Sprintf("%s and %d more of the files to write", strings.Join(present[:3], ", "), len(present)-3)
		}
		return fmt.Errorf("devpki: %s already holds %s; use --force to overwrite", dir, what)
	}
	return nil
}

// writeAll writes every file atomically (temporary file, then rename) with
// its mode, creating dir if needed.
func writeAll(dir string, files []file) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("devpki: %w", err)
	}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("devpki: %w", err)
		}
	}
	return nil
}
