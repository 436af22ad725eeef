package mvmclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// PackageEntry is one signed entry of a package, verified.
type PackageEntry struct {
	Index      uint64
	ReceivedAt time.Time
	Author     identity.Identity
	Type       string // payload type
	Payload    proto.Message
	// SignedPayload is the exact payload bytes the author signed: a
	// sealed body is opened against them (message.Open).
	SignedPayload []byte
}

// VerifiedPackage is a package re-derived on the client from its signed
// entries.
type VerifiedPackage struct {
	// State is what workflow.Apply, the reducer the server and the auditor
	// run, derives from Entries.
	State   *workflow.Package
	Entries []PackageEntry
	// Checkpoint is the checkpoint every entry was proved included in.
	Checkpoint *tlog.Checkpoint
}

// VerifyPackage checks a GetPackage answer and re-derives the package from
// its signed leaves, taking nothing on the server's word: every leaf must
// be proved included (GetInclusionProof) in cp, a checkpoint the caller
// verified under the pinned log key; every envelope must be signed by the
// certificate its leaf names, whose party's CA is that of the agreement in
// force at its index (agreements: every agreement of the log up to cp, in
// log order, as the caller derived them, e.g. audit.VerifyLog); every entry
// must be about this package, in log order; and the reducer must accept
// each one. The server's summary must then agree with the derived state.
//
// Certificate revocation lists are not consulted (audit does that).
func (c *Client) VerifyPackage(ctx context.Context, resp *mvmv1.GetPackageResponse, id string, cp *tlog.Checkpoint, agreements []*agreement.Agreement) (*VerifiedPackage, error) {
	if len(resp.Leaves) == 0 {
		return nil, fmt.Errorf("the server sent no signed entries for package %s", id)
	}
	v := &VerifiedPackage{Checkpoint: cp}
	certs := map[string]*x509.Certificate{}
	var pkg *workflow.Package
	for i, leaf := range resp.Leaves {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return nil, fmt.Errorf("leaf %d: %w", i, err)
		}
		if i > 0 && e.Index <= v.Entries[i-1].Index {
			return nil, fmt.Errorf("entry %d: out of log order after entry %d", e.Index, v.Entries[i-1].Index)
		}
		ag, adm, err := c.verifyEntry(ctx, certs, e, leaf, cp, agreements)
		if err != nil {
			return nil, err
		}
		at := e.ReceivedAt.AsTime()
		if got := message.PackageID(adm.Payload); got != id {
			return nil, fmt.Errorf("entry %d: is about package %q, not %s", e.Index, got, id)
		}
		if pkg, err = workflow.Apply(ag, pkg, workflow.Input{Index: e.Index, ReceivedAt: at, Author: adm.Author, Payload: adm.Payload}); err != nil {
			return nil, fmt.Errorf("entry %d: the workflow refuses it: %w", e.Index, err)
		}
		v.Entries = append(v.Entries, PackageEntry{Index: e.Index, ReceivedAt: at, Author: adm.Author, Type: adm.Type, Payload: adm.Payload, SignedPayload: adm.Envelope.GetPayload()})
	}
	v.State = pkg
	if s := resp.Package; s != nil {
		for _, f := range []struct{ what, server, derived string }{
			{"status", s.Status, string(pkg.Status)},
			{"submitter", s.Submitter, pkg.Submitter.URI()},
			{"outcome", s.Outcome, pkg.Outcome()},
		} {
			if f.server != f.derived {
				return nil, fmt.Errorf("the server's summary says %s %q, the signed entries %q", f.what, f.server, f.derived)
			}
		}
	}
	return v, nil
}

// VerifyEntry checks one leaf of the log on the client: it must be
// proved included (GetInclusionProof) in cp, a checkpoint the caller
// verified under the pinned log key, and its envelope must be signed by
// the certificate the leaf names (whose SHA-256 must match), of a party of
// the agreement in force at its index (agreements: every agreement of the
// log up to the entry, in log order, as audit.VerifyLog derives them),
// within that agreement's clock skew of its receive time. certs caches
// the signer certificates across calls (nil: no cache). Errors name the
// index.
func (c *Client) VerifyEntry(ctx context.Context, certs map[string]*x509.Certificate, leaf []byte, cp *tlog.Checkpoint, agreements []*agreement.Agreement) (*PackageEntry, error) {
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		return nil, fmt.Errorf("leaf: %w", err)
	}
	if certs == nil {
		certs = map[string]*x509.Certificate{}
	}
	_, adm, err := c.verifyEntry(ctx, certs, e, leaf, cp, agreements)
	if err != nil {
		return nil, err
	}
	return &PackageEntry{Index: e.Index, ReceivedAt: e.ReceivedAt.AsTime(), Author: adm.Author, Type: adm.Type, Payload: adm.Payload, SignedPayload: adm.Envelope.GetPayload()}, nil
}

// verifyEntry is VerifyEntry on a decoded leaf; it returns the agreement
// in force at the entry and the admitted envelope.
func (c *Client) verifyEntry(ctx context.Context, certs map[string]*x509.Certificate, e *mvmv1.Entry, leaf []byte, cp *tlog.Checkpoint, agreements []*agreement.Agreement) (*agreement.Agreement, *entry.Admitted, error) {
	if err := c.VerifyIncluded(ctx, leaf, e.Index, cp); err != nil {
		return nil, nil, err
	}
	cert, err := c.verifiedCertificate(ctx, certs, e.PeerCertificateSha256)
	if err != nil {
		return nil, nil, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	ag := agreement.InForceAt(agreements, e.Index)
	if ag == nil {
		return nil, nil, fmt.Errorf("entry %d: no agreement in force before it", e.Index)
	}
	at := e.ReceivedAt.AsTime()
	adm, err := entry.Admit(ag, e.Envelope, cert, at)
	if err != nil {
		return nil, nil, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	if err := entry.CheckClock(ag, adm, at); err != nil {
		return nil, nil, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	return ag, adm, nil
}

// VerifyIncluded checks that leaf is entry index of the log of cp, a
// checkpoint the caller verified, with an inclusion proof from the server.
func (c *Client) VerifyIncluded(ctx context.Context, leaf []byte, index uint64, cp *tlog.Checkpoint) error {
	if index >= cp.Size {
		return fmt.Errorf("entry %d: beyond the checkpoint of size %d", index, cp.Size)
	}
	pr, err := c.API.GetInclusionProof(ctx, &mvmv1.GetInclusionProofRequest{Index: index, Size: cp.Size})
	if err != nil {
		return fmt.Errorf("entry %d: inclusion proof: %w", index, err)
	}
	if err := tlog.VerifyInclusion(tlog.LeafHash(leaf), index, cp.Size, pr.Hashes, cp.Hash); err != nil {
		return fmt.Errorf("entry %d: not in the log of the checkpoint of size %d: %w", index, cp.Size, err)
	}
	return nil
}

// verifiedCertificate fetches a signer certificate and checks its digest.
func (c *Client) verifiedCertificate(ctx context.Context, cache map[string]*x509.Certificate, sha []byte) (*x509.Certificate, error) {
	if cert, ok := cache[string(sha)]; ok {
		return cert, nil
	}
	der, err := c.Certificate(ctx, sha)
	if err != nil {
		return nil, fmt.Errorf("signer certificate: %w", err)
	}
	if got := sha256.Sum256(der); !bytes.Equal(got[:], sha) {
		return nil, fmt.Errorf("the certificate served for %x has SHA-256 %x", sha, got)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("signer certificate: %w", err)
	}
	cache[string(sha)] = cert
	return cert, nil
}
