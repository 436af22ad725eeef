package dbcheck

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/store"
)

// signer is a stored certificate that parsed.
type signer struct {
	cert *x509.Certificate
	id   identity.Identity
}

func (c *checker) checkCerts() {
	if c.certsB == nil {
		return
	}
	_ = c.certsB.ForEach(func(k, v []byte) error {
		c.rep.Certs++
		key := hex.EncodeToString(k)
		if v == nil {
			c.damage(store.BucketCerts, key, "is a bucket, not a certificate")
			return nil
		}
		if sum := sha256.Sum256(v); !bytes.Equal(sum[:], k) {
			c.damage(store.BucketCerts, key, "the certificate's SHA-256 is %x, not its key", sum)
			return nil
		}
		cert, err := x509.ParseCertificate(v)
		if err != nil {
			c.damage(store.BucketCerts, key, "does not parse: %v", err)
			return nil
		}
		id, err := identity.Parse(cert)
		if err != nil {
			c.damage(store.BucketCerts, key, "%v", err)
			return nil
		}
		c.certs[string(k)] = &signer{cert: cert, id: id}
		return nil
	})
}

func (c *checker) author(sha []byte) (identity.Identity, error) {
	if s, ok := c.certs[string(sha)]; ok {
		return s.id, nil
	}
	return identity.Identity{}, fmt.Errorf("signer certificate %x is not stored (or is damaged)", sha)
}

// certificate is the verifier's source of signer certificates: those
// stored that passed checkCerts.
func (c *checker) certificate(sha []byte) ([]byte, error) {
	if s, ok := c.certs[string(sha)]; ok {
		return s.cert.Raw, nil
	}
	return nil, errors.New("is not stored (or is damaged)")
}
