package devpki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Files returns the names of the files [Generate] writes, in a fixed order.
// Identities added by [Issue] and CRLs written by [Revoke] are not among
// them.
func Files() []string {
	names := []string{serverCAName + ".crt", serverCAName + ".key", serverName + ".crt", serverName + ".key",
		logKeyFile, logVKeyFile}
	for _, p := range parties {
		names = append(names, "ca-"+p.id+".crt", "ca-"+p.id+".key", p.client+".crt", p.client+".key", SealKeyFile(p.id))
		if p.role == mvmv1.Role_ROLE_MEDIATOR {
			names = append(names, p.client+".cosign.key", p.client+".cosign.vkey")
			n := NodeName(p.id)
			names = append(names, n+".crt", n+".key", NodeServerName(n)+".crt", NodeServerName(n)+".key", n+".cosign.key", n+".cosign.vkey")
		}
	}
	return append(names, agreementFile, agreementTextFile)
}

// Present returns the files of [Files] that exist in dir: none means there
// is no PKI there to keep.
func Present(dir string) ([]string, error) {
	var present []string
	for _, name := range Files() {
		_, err := os.Lstat(filepath.Join(dir, name))
		switch {
		case err == nil:
			present = append(present, name)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("devpki: %w", err)
		}
	}
	return present, nil
}

// Problem is one missing or invalid file of a PKI.
type Problem struct {
	File string // the file's name in the directory
	Err  error
}

// CheckError is what [Check] found wrong, every problem naming its file.
type CheckError struct {
	Dir      string
	Problems []Problem
}

func (e *CheckError) Error() string {
	var missing, invalid []string
	for _, p := range e.Problems {
		if errors.Is(p.Err, fs.ErrNotExist) {
			missing = append(missing, p.File)
		} else {
			invalid = append(invalid, p.File+": "+p.Err.Error())
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	parts = append(parts, invalid...)
	return fmt.Sprintf("devpki: %s does not hold a complete, valid dev PKI: %s", e.Dir, strings.Join(parts, "; "))
}

// Check verifies that dir holds a complete and valid dev PKI as [Generate]
// writes it, at time now (zero = time.Now()):
//
//   - every file of [Files] is present;
//   - each key matches its certificate, each CA certificate is a CA;
//   - the server's certificate chains to ca-server for server
//     authentication, and each client identity chains to its
//     party's CA for client authentication and names itself in its SAN;
//   - each node's server certificate chains to ca-server for server
//     authentication, not for client authentication (it must not pass
//     for the primary at a witness endpoint), with a key of its own;
//   - agreement.envelope verifies: signed by every party, listing the
//     party CAs of ca-<party>.crt, the log key of log.vkey and the cosigner
//     keys of <name>.cosign.vkey;
//   - log.key and each cosign key sign what their verifier key accepts;
//   - each seal-<party>.key is a decryption key, mode 0600, whose public
//     key is the party's encryption key in the agreement.
//
// It returns nil or a *[CheckError] naming every missing or invalid file.
func Check(dir string, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	c := &checker{dir: dir, now: now, certs: map[string]*x509.Certificate{}}
	for _, name := range Files() {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			c.add(name, err)
		}
	}
	c.keyPair(serverCAName, true)
	c.leaf(serverName, serverCAName, x509.ExtKeyUsageServerAuth)
	for _, p := range parties {
		c.keyPair("ca-"+p.id, true)
		if c.leaf(p.client, "ca-"+p.id, x509.ExtKeyUsageClientAuth) {
			c.identity(p)
		}
	}
	logV := c.noteKeys(logKeyFile, logVKeyFile, false)
	cosigners, nodes := map[string]string{}, map[string]string{}
	for _, p := range parties {
		if p.role == mvmv1.Role_ROLE_MEDIATOR {
			cosigners[p.id] = c.noteKeys(p.client+".cosign.key", p.client+".cosign.vkey", true)
			n := NodeName(p.id)
			c.leaf(n, "ca-"+p.id, x509.ExtKeyUsageClientAuth)
			c.nodeServer(NodeServerName(n))
			nodes[n] = c.noteKeys(n+".cosign.key", n+".cosign.vkey", true)
		}
	}
	sealKeys := map[string]*seal.PublicKey{}
	for _, p := range parties {
		if k := c.sealKey(p.id); k != nil {
			sealKeys[p.id] = k
		}
	}
	c.agreement(logV, cosigners, sealKeys, nodes)
	if len(c.problems) == 0 {
		return nil
	}
	return &CheckError{Dir: dir, Problems: c.problems}
}

// checker accumulates the problems of one Check.
type checker struct {
	dir      string
	now      time.Time
	certs    map[string]*x509.Certificate // name (no .crt) → certificate whose key matched
	problems []Problem
	reported map[string]bool
}

// add records a problem with file, one per file: the first is the cause.
func (c *checker) add(file string, err error) {
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	if c.reported[file] {
		return
	}
	c.reported[file] = true
	c.problems = append(c.problems, Problem{file, err})
}

func (c *checker) path(name string) string { return filepath.Join(c.dir, name) }

// keyPair loads name.crt and name.key and checks that they match.
func (c *checker) keyPair(name string, ca bool) bool {
	crt, key := name+".crt", name+".key"
	if c.reported[crt] || c.reported[key] {
		return false
	}
	cert, err := readCert(c.path(crt))
	if err != nil {
		c.add(crt, errors.New(strings.TrimPrefix(err.Error(), "devpki: ")))
		return false
	}
	if _, err := tls.LoadX509KeyPair(c.path(crt), c.path(key)); err != nil {
		c.add(key, fmt.Errorf("is not the key of %s: %w", crt, err))
		return false
	}
	if ca && !cert.IsCA {
		c.add(crt, errors.New("is not a CA certificate"))
		return false
	}
	c.certs[name] = cert
	return true
}

// leaf checks name's key pair and that it chains to caName for usage now.
func (c *checker) leaf(name, caName string, usage x509.ExtKeyUsage) bool {
	if !c.keyPair(name, false) {
		return false
	}
	ca, ok := c.certs[caName]
	if !ok {
		return false // the CA's own problem is reported
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: c.now, KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := c.certs[name].Verify(opts); err != nil {
		c.add(name+".crt", fmt.Errorf("does not chain to %s.crt: %w", caName, err))
		return false
	}
	return true
}

// nodeServer checks a node's TLS server certificate: it chains to
// ca-server for server authentication, cannot authenticate a client (the
// witness endpoints of the nodes take a client certificate of ca-server
// for the primary's) and does not share the primary's key.
func (c *checker) nodeServer(name string) {
	if !c.leaf(name, serverCAName, x509.ExtKeyUsageServerAuth) {
		return
	}
	cert := c.certs[name]
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			c.add(name+".crt", errors.New("authenticates clients too: a node's certificate is for server authentication only, or the other nodes would take it for the primary's"))
			return
		}
	}
	if srv := c.certs[serverName]; srv != nil && bytes.Equal(srv.RawSubjectPublicKeyInfo, cert.RawSubjectPublicKeyInfo) {
		c.add(name+".key", errors.New("is the primary's key (server.key): a node serves with a key of its own"))
	}
}

// identity checks that a client certificate names party p's identity.
func (c *checker) identity(p party) {
	id, err := identity.Parse(c.certs[p.client])
	if err == nil && (id.Party != p.id || id.Name != p.client) {
		err = fmt.Errorf("names %s, want party %s, name %s", id.URI(), p.id, p.client)
	}
	if err != nil {
		c.add(p.client+".crt", err)
	}
}

// noteKeys checks that the signed-note key skeyFile and the verifier key
// vkeyFile (cosignature/v1 if cosign) are one key pair, and returns the
// verifier key ("" if it does not).
func (c *checker) noteKeys(skeyFile, vkeyFile string, cosign bool) string {
	skey, err1 := os.ReadFile(c.path(skeyFile))
	vkeyB, err2 := os.ReadFile(c.path(vkeyFile))
	if err1 != nil || err2 != nil {
		return "" // reported as missing
	}
	vkey := strings.TrimSuffix(string(vkeyB), "\n")
	var s note.Signer
	var v note.Verifier
	var err error
	if cosign {
		s, err = fnote.NewSignerForCosignatureV1(string(skey))
	} else {
		s, err = note.NewSigner(string(skey))
	}
	if err != nil {
		c.add(skeyFile, fmt.Errorf("is not a signed-note key: %w", err))
		return ""
	}
	if cosign {
		v, err = fnote.NewVerifierForCosignatureV1(vkey)
	} else {
		v, err = note.NewVerifier(vkey)
	}
	if err != nil {
		c.add(vkeyFile, fmt.Errorf("is not a verifier key: %w", err))
		return ""
	}
	msg := &note.Note{Text: v.Name() + "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}
	signed, err := note.Sign(msg, s)
	if err == nil {
		_, err = note.Open(signed, note.VerifierList(v))
	}
	if err != nil || s.Name() != v.Name() {
		c.add(skeyFile, fmt.Errorf("does not sign for %s (%s)", vkeyFile, v.Name()))
		return ""
	}
	return vkey
}

// sealKey checks seal-<party>.key: a decryption key no one else can read.
// It returns its public key, nil if it is missing or invalid.
func (c *checker) sealKey(partyID string) *seal.PublicKey {
	name := SealKeyFile(partyID)
	fi, err := os.Stat(c.path(name))
	if err != nil {
		return nil // reported as missing
	}
	if fi.Mode().Perm()&0o077 != 0 {
		c.add(name, fmt.Errorf("has mode %v: a decryption key must be readable by its owner only (chmod 600)", fi.Mode().Perm()))
		return nil
	}
	data, err := os.ReadFile(c.path(name))
	if err == nil {
		var k *seal.PrivateKey
		if k, err = seal.ParsePrivateKeyPEM(data); err == nil {
			return k.Public()
		}
	}
	c.add(name, fmt.Errorf("is not a decryption key: %w", err))
	return nil
}

// agreement checks agreement.envelope against the other files.
func (c *checker) agreement(logVKey string, cosigners map[string]string, sealKeys map[string]*seal.PublicKey, nodes map[string]string) {
	raw, err := os.ReadFile(c.path(agreementFile))
	if err != nil {
		return // reported as missing
	}
	ag, env, err := agreement.FromEnvelope(raw, 0)
	if err == nil {
		_, err = agreement.VerifyAllSigned(env, c.now, ag)
	}
	if err != nil {
		c.add(agreementFile, fmt.Errorf("does not verify: %w", err))
		return
	}
	var wrong []string
	for _, p := range parties {
		ap, ok := ag.Party(p.id)
		if ca := c.certs["ca-"+p.id]; !ok || (ca != nil && !slices.ContainsFunc(ap.CAs, ca.Equal)) {
			wrong = append(wrong, "party "+p.id+"'s CA is not ca-"+p.id+".crt")
		}
		if vkey := cosigners[p.id]; vkey != "" && !slices.Contains(ag.CosignerKeys()[p.id], vkey) {
			wrong = append(wrong, "party "+p.id+"'s cosigner key is not "+p.client+".cosign.vkey")
		}
		if k := sealKeys[p.id]; ok && k != nil && !k.Equal(ap.EncryptionKey) {
			wrong = append(wrong, "party "+p.id+"'s encryption key is not that of "+SealKeyFile(p.id))
		}
	}
	for name, vkey := range nodes {
		if w, ok := ag.Witness(name); vkey != "" && ok && w.Key != vkey {
			wrong = append(wrong, "witness "+name+"'s key is not "+name+".cosign.vkey")
		}
	}
	if logVKey != "" && ag.LogKey != logVKey {
		wrong = append(wrong, "its log key is not log.vkey")
	}
	if len(wrong) > 0 {
		c.add(agreementFile, errors.New("belongs to another PKI: "+strings.Join(wrong, ", ")))
	}
}
