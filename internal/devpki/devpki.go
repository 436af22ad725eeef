// Package devpki generates the development PKI of an MVM Exchange
// deployment: everything a local server, its clients and the tests need to
// run the mutual-TLS service end to end.
//
// [Generate] writes into one directory (see certs/README.md):
//
//   - one CA per party (ca-pk, ca-af, ca-tr, ca-qa) and one for the server
//     (ca-server), as ca-<x>.crt / ca-<x>.key;
//   - the server's TLS certificate server.crt / server.key, for localhost,
//     127.0.0.1 and ::1, issued by ca-server;
//   - one client identity per party (pk-liaison, af-interior, tr-verifier,
//     qa-verifier), <name>.crt / <name>.key, issued by its party's CA, named
//     by the single URI SAN spiffe://<trust-domain>/party/<party>/<name>;
//   - the log's signed-note key log.key / log.vkey (key name = log origin);
//   - the mediators' checkpoint cosigner keys
//     <name>.cosign.key / <name>.cosign.vkey;
//   - each mediator party's node (server --follow): its client identity
//     <party>-node.crt / .key, its own TLS server certificate
//     <party>-node-server.crt / .key (issued by ca-server for the loopback
//     names, server authentication only: see [NodeServerName]) and its
//     C2SP witness key
//     <party>-node.cosign.key / .vkey, which the agreement lists as a
//     witness named <party>-node of the party (unless
//     Options.NoNodeWitnesses);
//   - one decryption key per party, seal-<party>.key (package seal, PEM,
//     mode 0600), whose public key the agreement lists as the party's
//     encryption_key: what opens the party's sealed bodies;
//   - the dev agreement (genesis), signed by all four client identities, as
//     agreement.envelope (a serialized mvm.v1.Envelope) and agreement.txt
//     (a human-readable rendering that is not itself signed).
//
// [Issue] adds one more client identity to an existing directory, optionally
// malformed (expired, not yet valid, wrong SANs, wrong CA) for negative
// tests. [Revoke] adds a certificate to its party CA's CRL, crl-<party>.pem
// (a PEM X.509 CRL signed by ca-<party>). [RenewServer] replaces the
// server's certificate, [IssueNodeServer] a node's. [LoadKeyPair] loads a certificate and key for TLS.
//
// All keys are Ed25519; certificates and PKCS#8 keys are PEM; key files are
// written with mode 0600. The keys are unprotected and the directory is
// self-signed trust: this is for development and tests only, never for a
// deployment.
package devpki

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Defaults for [Options].
const (
	DefaultTrustDomain = "mvm.example"
	DefaultLogOrigin   = "mvm.example/exchange/dev"
)

// Validity periods, counted from one hour before the generation time so that
// small clock skews between processes do not matter.
const (
	backdate     = time.Hour
	leafValidity = 2  // years
	caValidity   = 10 // years
	keyFileMode  = 0o600
	fileMode     = 0o644
	dirMode      = 0o755
	genesisMsgID = "agreement-genesis"
)

// File names written by Generate, other than the per-party ones.
const (
	serverName        = "server"
	serverCAName      = "ca-server"
	logKeyFile        = "log.key"
	logVKeyFile       = "log.vkey"
	agreementFile     = "agreement.envelope"
	agreementTextFile = "agreement.txt"
)

// party is one party of the dev deployment with its one client identity.
type party struct {
	id, name string
	role     mvmv1.Role
	client   string
}

// parties of the dev agreement, in agreement order.
var parties = []party{
	{"pk", "Pakistan", mvmv1.Role_ROLE_SUBMITTER, "pk-liaison"},
	{"af", "Afghanistan", mvmv1.Role_ROLE_RESPONDER, "af-interior"},
	{"tr", "Türkiye", mvmv1.Role_ROLE_MEDIATOR, "tr-verifier"},
	{"qa", "Qatar", mvmv1.Role_ROLE_MEDIATOR, "qa-verifier"},
}

// Options configure [Generate].
type Options struct {
	// Dir is the output directory; it is created if missing.
	Dir string
	// TrustDomain of client identities; default DefaultTrustDomain.
	TrustDomain string
	// LogOrigin is the checkpoint origin and log key name; default
	// DefaultLogOrigin.
	LogOrigin string
	// Force overwrites an existing PKI in Dir.
	Force bool
	// Now is the generation time (zero = time.Now()). Certificates are valid
	// from Now-1h for 2 years, CAs for 10 years; the agreement is authored
	// at Now.
	Now time.Time
	// SecondResponder adds a second responding party, "ir" (client
	// ir-interior), for tests that need a party not on every package.
	SecondResponder bool
	// SealedBodies sets the agreement's sealed_bodies. The parties'
	// encryption keys are generated and listed either way.
	SealedBodies bool
	// EvidenceNeedsFiles sets the agreement's evidence_needs_files: the
	// evidence deadline is met only by a submission naming a stored file.
	EvidenceNeedsFiles bool
	// NoNodeWitnesses leaves the mediator parties' nodes (tr-node,
	// qa-node) out of the agreement's witnesses. By default each is
	// listed as a C2SP witness bound to its party, with its witness key:
	// its cosignature is its party's vote toward the witness quorum
	// (agreement.CountWitnesses). Their identities and keys are
	// generated either way.
	NoNodeWitnesses bool
}

// Generate writes a complete dev PKI and dev agreement into o.Dir. It
// refuses if any of the files it would write already exists, unless o.Force.
// Everything is generated in memory first, so a failure writes nothing.
// With o.Force, files written by an earlier [Issue] are left in place (and
// no longer chain to the regenerated CAs).
func Generate(o Options) error {
	if o.Dir == "" {
		return errors.New("devpki: no output directory")
	}
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.LogOrigin == "" {
		o.LogOrigin = DefaultLogOrigin
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	files, err := build(o)
	if err != nil {
		return err
	}
	if !o.Force {
		if err := refuseExisting(o.Dir, files); err != nil {
			return err
		}
	}
	return writeAll(o.Dir, files)
}

func build(o Options) ([]file, error) {
	var out []file
	add := func(k keyPair, name string) error {
		f, err := k.files(name)
		out = append(out, f...)
		return err
	}
	notBefore := o.Now.Add(-backdate)

	// Server CA and server certificate.
	serverCA, err := newCA(serverCAName, "MVM dev server CA", notBefore)
	if err != nil {
		return nil, err
	}
	if err := add(serverCA, serverCAName); err != nil {
		return nil, err
	}
	srv, err := newLeaf(serverCA, serverTemplate(notBefore))
	if err != nil {
		return nil, fmt.Errorf("devpki: server certificate: %w", err)
	}
	if err := add(srv, serverName); err != nil {
		return nil, err
	}

	// Log key.
	logSKey, logVKey, err := tlog.GenerateLogKey(o.LogOrigin)
	if err != nil {
		return nil, fmt.Errorf("devpki: log key for origin %q: %w", o.LogOrigin, err)
	}
	out = append(out,
		file{logKeyFile, []byte(logSKey), keyFileMode},
		file{logVKeyFile, []byte(logVKey + "\n"), fileMode})

	// Party CAs, client identities, cosigner keys.
	ag := &mvmv1.Agreement{
		Header: &mvmv1.Header{
			MessageId:  genesisMsgID,
			AuthoredAt: timestamppb.New(o.Now),
		},
		Title:          "MVM dev agreement",
		TrustDomain:    o.TrustDomain,
		LogOrigin:      o.LogOrigin,
		LogVerifierKey: logVKey,
		Deadlines: &mvmv1.Deadlines{
			Acknowledge:  durationpb.New(24 * time.Hour),
			ActionReport: durationpb.New(168 * time.Hour),
			Evidence:     durationpb.New(240 * time.Hour),
		},
		RulingQuorum:       2,
		WitnessQuorum:      2,
		SealedBodies:       o.SealedBodies,
		EvidenceNeedsFiles: o.EvidenceNeedsFiles,
	}
	var signers []envelope.Signer
	ps := parties
	if o.SecondResponder {
		ps = append(ps[:len(ps):len(ps)], party{"ir", "Iran", mvmv1.Role_ROLE_RESPONDER, "ir-interior"})
	}
	for _, p := range ps {
		ca, err := newCA("ca-"+p.id, fmt.Sprintf("MVM dev CA %s (%s)", p.id, p.name), notBefore)
		if err != nil {
			return nil, err
		}
		if err := add(ca, "ca-"+p.id); err != nil {
			return nil, err
		}
		client, err := newClient(ca, o.TrustDomain, p.id, p.client, []string{spiffeURI(o.TrustDomain, p.id, p.client)},
			notBefore, notBefore.AddDate(leafValidity, 0, 0))
		if err != nil {
			return nil, err
		}
		if err := add(client, p.client); err != nil {
			return nil, err
		}
		signers = append(signers, envelope.Signer{Key: client.key, Certificate: client.cert, EmbedCertificate: true})

		ap := &mvmv1.Party{Id: p.id, Name: p.name, Role: p.role, CaCertificates: [][]byte{ca.cert.Raw}}
		sealKey, err := seal.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("devpki: decryption key of party %s: %w", p.id, err)
		}
		sealPEM, err := sealKey.MarshalPEM()
		if err != nil {
			return nil, fmt.Errorf("devpki: decryption key of party %s: %w", p.id, err)
		}
		out = append(out, file{SealKeyFile(p.id), sealPEM, keyFileMode})
		ap.EncryptionKey = sealKey.Public().Bytes()
		if p.role == mvmv1.Role_ROLE_MEDIATOR {
			skey, vkey, err := tlog.GenerateCosignerKey(p.client)
			if err != nil {
				return nil, fmt.Errorf("devpki: cosigner key %s: %w", p.client, err)
			}
			out = append(out,
				file{p.client + ".cosign.key", []byte(skey), keyFileMode},
				file{p.client + ".cosign.vkey", []byte(vkey + "\n"), fileMode})
			ap.CosignerKeys = []string{vkey}
			// The party's mediator node: its client identity, with which
			// it follows the primary, its own TLS server certificate
			// (nodeserver.go: never the primary's), and its witness key,
			// which the agreement lists as a C2SP witness.
			nodeName := NodeName(p.id)
			nodeID, err := newClient(ca, o.TrustDomain, p.id, nodeName, []string{spiffeURI(o.TrustDomain, p.id, nodeName)},
				notBefore, notBefore.AddDate(leafValidity, 0, 0))
			if err != nil {
				return nil, err
			}
			if err := add(nodeID, nodeName); err != nil {
				return nil, err
			}
			nodeSrv, err := newLeaf(serverCA, nodeServerTemplate(nodeName, notBefore))
			if err != nil {
				return nil, fmt.Errorf("devpki: %s certificate: %w", NodeServerName(nodeName), err)
			}
			if err := add(nodeSrv, NodeServerName(nodeName)); err != nil {
				return nil, err
			}
			nskey, nvkey, err := tlog.GenerateCosignerKey(nodeName)
			if err != nil {
				return nil, fmt.Errorf("devpki: witness key %s: %w", nodeName, err)
			}
			out = append(out,
				file{nodeName + ".cosign.key", []byte(nskey), keyFileMode},
				file{nodeName + ".cosign.vkey", []byte(nvkey + "\n"), fileMode})
			if !o.NoNodeWitnesses {
				ag.Witnesses = append(ag.Witnesses, &mvmv1.Witness{Name: nodeName, VerifierKey: nvkey, Party: p.id})
			}
		}
		ag.Parties = append(ag.Parties, ap)
	}

	// The agreement, signed by every party.
	sealed, err := envelope.Seal(ag, signers...)
	if err != nil {
		return nil, fmt.Errorf("devpki: sealing the agreement: %w", err)
	}
	text, err := agreementText(ag, signers)
	if err != nil {
		return nil, err
	}
	out = append(out,
		file{agreementFile, sealed, fileMode},
		file{agreementTextFile, text, fileMode})
	return out, nil
}

// NodeName is the name of a mediator party's node: its client identity
// (NAME.crt, NAME.key), its witness key (NAME.cosign.key, .vkey) and the
// witness name the dev agreement lists, e.g. tr-node.
func NodeName(party string) string { return party + "-node" }

// SealKeyFile is the name of party's decryption key file in a dev PKI.
func SealKeyFile(party string) string { return "seal-" + party + ".key" }

// agreementText renders the agreement for people to read.
func agreementText(ag *mvmv1.Agreement, signers []envelope.Signer) ([]byte, error) {
	js, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(ag)
	if err != nil {
		return nil, fmt.Errorf("devpki: rendering the agreement: %w", err)
	}
	var b strings.Builder
	b.WriteString("# The dev agreement (log entry 0), rendered as protojson for reading.\n")
	b.WriteString("# Authoritative copy: agreement.envelope (serialized mvm.v1.Envelope),\n")
	b.WriteString("# payload type " + envelope.TypeOf(ag) + ", signed by:\n")
	for _, s := range signers {
		id, err := identity.Parse(s.Certificate)
		if err != nil {
			return nil, fmt.Errorf("devpki: %w", err)
		}
		fmt.Fprintf(&b, "#   %-16s %s  keyid %s\n", id.String(), id.URI(), envelope.Fingerprint(s.Certificate.Raw))
	}
	b.WriteString("# ca_certificates are base64 DER.\n")
	b.Write(js)
	if !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	return []byte(b.String()), nil
}
