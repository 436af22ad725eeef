package service_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// A certificate revoked while its holder is connected: after the server
// reloads its CRLs, the next call on the open connection is refused with
// Unauthenticated naming the revocation (the agreement's verification cache
// notwithstanding), a live feed opened before ends at its next message, and
// a new connection is refused at the handshake. Other identities are not
// affected.
func TestRevokedOnOpenConnection(t *testing.T) {
	f := newFixture(t)
	if err := devpki.Issue(f.env.Certs, "pk-second", "pk", devpki.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	c := f.env.Client("pk-second")
	// Warm the connection and the agreement's verification cache.
	if _, err := c.Append(ctxT(t), targetPackage()); err != nil {
		t.Fatalf("append before the revocation: %v", err)
	}
	watch, err := c.API.Watch(ctxT(t), &mvmv1.WatchRequest{From: f.size(t)})
	if err != nil {
		t.Fatal(err)
	}

	if err := devpki.Revoke(f.env.Certs, "pk-second", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Server.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	before := f.size(t)
	_, err = c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	wantCode(t, err, codes.Unauthenticated, "revoked", "pk/pk-second")
	_, err = c.Append(ctxT(t), targetPackage())
	wantCode(t, err, codes.Unauthenticated, "revoked")
	f.wantSize(t, before)

	// The live feed ends at the next entry.
	if _, err := f.pk().Append(ctxT(t), targetPackage()); err != nil {
		t.Fatalf("pk-liaison after the revocation: %v", err)
	}
	_, err = watch.Recv()
	wantCode(t, err, codes.Unauthenticated, "revoked")

	// A new connection fails at the handshake.
	fresh := f.env.Client("pk-second")
	_, err = fresh.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	wantCode(t, err, codes.Unavailable, "bad certificate")
}

// A certificate that expires while its connection is open is refused at the
// next call, with the reason.
func TestExpiredOnOpenConnection(t *testing.T) {
	f := newFixture(t)
	notAfter := time.Now().Truncate(time.Second).Add(2 * time.Second)
	if err := devpki.Issue(f.env.Certs, "pk-brief", "pk", devpki.IssueOptions{NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}); err != nil {
		t.Fatal(err)
	}
	c := f.env.Client("pk-brief")
	if _, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatalf("call while valid: %v", err)
	}
	time.Sleep(time.Until(notAfter) + 100*time.Millisecond)
	before := f.size(t)
	_, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	wantCode(t, err, codes.Unauthenticated, "pk/pk-brief", "has expired", "valid until")
	_, err = c.Append(ctxT(t), targetPackage())
	wantCode(t, err, codes.Unauthenticated, "has expired")
	f.wantSize(t, before)
}

// An amendment co-signed by a revoked certificate is refused, although the
// peer that sends it is not revoked: every signer of an entry counts.
func TestAmendmentSignedByRevoked(t *testing.T) {
	f := newFixture(t)
	genesis, err := os.ReadFile(filepath.Join(f.env.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	env := &mvmv1.Envelope{}
	if err := proto.Unmarshal(genesis, env); err != nil {
		t.Fatal(err)
	}
	amendment := &mvmv1.Agreement{}
	if err := proto.Unmarshal(env.Payload, amendment); err != nil {
		t.Fatal(err)
	}
	amendment.Header = mvmclient.NewHeader()
	amendment.Title = "MVM dev agreement, amendment 1"
	var signers []envelope.Signer
	for _, who := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator, testenv.Mediator2} {
		s := f.clients[who].Signer()
		s.EmbedCertificate = true
		signers = append(signers, s)
	}
	sealed, err := envelope.Seal(amendment, signers...)
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.Revoke(f.env.Certs, testenv.Mediator2, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Server.Reload(); err != nil {
		t.Fatal(err)
	}
	before := f.size(t)
	_, err = f.af().AppendSealed(ctxT(t), sealed)
	wantCode(t, err, codes.PermissionDenied, "signature 3", "qa/qa-verifier", "revoked")
	f.wantSize(t, before)
}
