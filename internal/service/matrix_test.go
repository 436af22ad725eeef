package service_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// rpcRule says who may call an RPC and how to call it once.
type rpcRule struct {
	// allowed lists the identities that may call it; nil means everyone
	// authenticated (finer rules, if any, are per payload or per package
	// and tested elsewhere).
	allowed []string
	call    func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error
}

type matrixFixture struct {
	packageID  string
	checkpoint []byte
	certs      string
}

// recvOnce opens a server stream and reads one message.
func recvOnce[T any](stream interface{ Recv() (T, error) }, err error) error {
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

var rpcRules = map[string]rpcRule{
	"Append": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		// A payload no role may send here: an acknowledgement of an unknown
		// package by anyone is refused by the workflow, not by the RPC.
		_, err := c.Append(ctx, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: "matrix-unknown"})
		if c := status.Code(err); c == codes.NotFound || c == codes.PermissionDenied && strings.Contains(err.Error(), "may not acknowledge") {
			return nil // reached the reducer: the RPC itself is open
		}
		return err
	}},
	"AppendStream": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		// As Append: open to every party; the workflow decides per payload.
		a, err := c.NewAppender(ctx)
		if err != nil {
			return err
		}
		defer a.Close()
		env, err := c.Seal(&mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: "matrix-unknown"})
		if err != nil {
			return err
		}
		_, err = a.AppendSealed(env)
		if c := status.Code(err); c == codes.NotFound || c == codes.PermissionDenied && strings.Contains(err.Error(), "may not acknowledge") {
			return nil // reached the reducer: the RPC itself is open
		}
		return err
	}},
	"GetEntries": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		s, err := c.API.GetEntries(ctx, &mvmv1.GetEntriesRequest{Start: 0, End: 1})
		return recvOnce(s, err)
	}},
	"GetCertificates": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetCertificates(ctx, &mvmv1.GetCertificatesRequest{})
		return err
	}},
	"GetStatus": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		// What the server is and how far it holds the log: every party's to see.
		_, err := c.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
		return err
	}},
	"CompareCheckpoint": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		// Every party may hand a node its saved checkpoint (node tests);
		// the matrix server is a primary, which compares none.
		_, err := c.API.CompareCheckpoint(ctx, &mvmv1.CompareCheckpointRequest{Checkpoint: f.checkpoint})
		if status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "this server is the primary") {
			return nil
		}
		return err
	}},
	"GetPackage": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetPackage(ctx, &mvmv1.GetPackageRequest{PackageId: f.packageID})
		return err
	}},
	"ListPackages": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{})
		return err
	}},
	"GetAgreement": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetAgreement(ctx, &mvmv1.GetAgreementRequest{})
		return err
	}},
	"GetBreaches": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{})
		return err
	}},
	"GetCheckpoint": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
		return err
	}},
	"ListCheckpoints": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		// Checkpoints and their cosignatures: every party's to read.
		_, err := c.API.ListCheckpoints(ctx, &mvmv1.ListCheckpointsRequest{})
		return err
	}},
	"GetInclusionProof": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetInclusionProof(ctx, &mvmv1.GetInclusionProofRequest{Index: 0, Size: 1})
		return err
	}},
	"GetConsistencyProof": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		_, err := c.API.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: 1, To: 2})
		return err
	}},
	"AddCosignature": {allowed: []string{testenv.Mediator, testenv.Mediator2}, call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		v := mustVerifier(f.certs)
		// Each identity cosigns with the tr mediator's key: only a mediator
		// party gets past the role check (and then the key check refuses
		// qa, which is not a PermissionDenied for the role).
		skey, err := os.ReadFile(filepath.Join(f.certs, testenv.Mediator+".cosign.key"))
		if err != nil {
			return err
		}
		line, err := tlog.Cosign(strings.TrimSpace(string(skey)), f.checkpoint, v.Name(), v)
		if err != nil {
			return err
		}
		_, err = c.API.AddCosignature(ctx, &mvmv1.AddCosignatureRequest{Checkpoint: f.checkpoint, SignatureLine: line})
		if status.Code(err) == codes.PermissionDenied && strings.Contains(err.Error(), "does not verify with any cosigner key of party qa") {
			return nil // qa passed the role check; the key belongs to tr
		}
		return err
	}},
	"Backup": {allowed: []string{testenv.Mediator}, call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		// The matrix server names tr-verifier its only operator.
		_, err := c.Backup(ctx, io.Discard)
		return err
	}},
	"Watch": {call: func(ctx context.Context, c *mvmclient.Client, f *matrixFixture) error {
		s, err := c.API.Watch(ctx, &mvmv1.WatchRequest{From: 0})
		return recvOnce(s, err)
	}},
	// Evidence: every party of the package and the mediators (all the dev
	// identities here); TestEvidenceScope refuses a party not on it.
	"EvidenceStatus": {call: evidenceStatusCall}, "UploadEvidence": {call: uploadEvidenceCall},
	"DownloadEvidence": {call: downloadEvidenceCall},
}

func mustVerifier(certs string) note.Verifier {
	b, err := os.ReadFile(filepath.Join(certs, "log.vkey"))
	if err != nil {
		panic(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		panic(err)
	}
	return v
}

// TestAuthorizationMatrix calls every RPC of the service descriptor as
// every dev identity. An RPC without a rule above fails the test, so a new
// RPC cannot ship without deciding who may call it.
func TestAuthorizationMatrix(t *testing.T) {
	env := testenv.New(t, withOperators(operatorURI))
	ctx := context.Background()
	pk := env.Client(testenv.Submitter)
	tp := pkg(time.Now())
	if _, err := pk.Append(ctx, tp); err != nil {
		t.Fatal(err)
	}
	cp, err := pk.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	f := &matrixFixture{packageID: tp.Header.MessageId, checkpoint: cp.Checkpoint, certs: env.Certs}
	clients := map[string]*mvmclient.Client{}
	for _, name := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator, testenv.Mediator2} {
		clients[name] = env.Client(name)
	}
	methods := mvmv1.File_mvm_v1_service_proto.Services().ByName("ExchangeService").Methods()
	for i := range methods.Len() {
		name := string(methods.Get(i).Name())
		rule, ok := rpcRules[name]
		if !ok {
			t.Errorf("RPC %s has no authorization rule in this test: decide who may call it", name)
			continue
		}
		for who, c := range clients {
			t.Run(name+"/"+who, func(t *testing.T) {
				allowed := rule.allowed == nil
				for _, a := range rule.allowed {
					allowed = allowed || a == who
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				err := rule.call(cctx, c, f)
				switch {
				case allowed && err != nil:
					t.Errorf("allowed caller refused: %v", err)
				case !allowed && status.Code(err) != codes.PermissionDenied:
					t.Errorf("forbidden caller: got %v, want PermissionDenied", err)
				}
			})
		}
	}
}
