package cli

// The hostile-server fixture the hostile tests share: a fake server over
// real mutual TLS holding only its TLS key, the real log it copies, and
// the leaves and checkpoints an operator could make up.

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// hostileServer is a server holding only its own TLS key (the dev
// server.crt/key), not the log key and no party's key: it answers
// GetAgreement, GetEntries and GetCheckpoint with whatever the test gives
// it, and passes certificate and consistency-proof requests to the real
// server it copies.
type hostileServer struct {
	mvmv1.UnimplementedExchangeServiceServer
	real       *mvmclient.Client
	agreement  []byte   // GetAgreement's leaf
	leaves     [][]byte // GetEntries
	checkpoint []byte   // GetCheckpoint, whatever the request
	// pkg answers GetPackage (nil: the real server's answer).
	pkg *mvmv1.GetPackageResponse
	// nodes, if set, are the tree of leaves, for inclusion proofs (nil:
	// the real server's proofs).
	nodes tlog.NodeMap
	// proofNodes, if set, are the tree of leaves, for consistency proofs
	// (nil: the real server's proofs).
	proofNodes tlog.NodeMap
	// breaches answers GetBreaches (nil: the real server's answer).
	breaches *mvmv1.GetBreachesResponse
	// cert, if set, answers every GetCertificates (nil: the real server's).
	cert []byte
	// cosigned answers AddCosignature.
	cosigned []byte
}

// AddCosignature answers with cosigned, whatever was cosigned.
func (h *hostileServer) AddCosignature(context.Context, *mvmv1.AddCosignatureRequest) (*mvmv1.AddCosignatureResponse, error) {
	return &mvmv1.AddCosignatureResponse{Checkpoint: h.cosigned}, nil
}

func (h *hostileServer) GetBreaches(ctx context.Context, req *mvmv1.GetBreachesRequest) (*mvmv1.GetBreachesResponse, error) {
	if h.breaches == nil {
		return h.real.API.GetBreaches(ctx, req)
	}
	return h.breaches, nil
}

func (h *hostileServer) GetPackage(ctx context.Context, req *mvmv1.GetPackageRequest) (*mvmv1.GetPackageResponse, error) {
	if h.pkg == nil {
		return h.real.API.GetPackage(ctx, req)
	}
	return h.pkg, nil
}

func (h *hostileServer) GetInclusionProof(ctx context.Context, req *mvmv1.GetInclusionProofRequest) (*mvmv1.GetInclusionProofResponse, error) {
	if h.nodes == nil {
		return h.real.API.GetInclusionProof(ctx, req)
	}
	hashes, err := tlog.InclusionProof(h.nodes, req.Index, req.Size)
	return &mvmv1.GetInclusionProofResponse{Hashes: hashes}, err
}

func (h *hostileServer) GetAgreement(context.Context, *mvmv1.GetAgreementRequest) (*mvmv1.GetAgreementResponse, error) {
	return &mvmv1.GetAgreementResponse{Leaf: h.agreement}, nil
}

func (h *hostileServer) GetEntries(req *mvmv1.GetEntriesRequest, s grpc.ServerStreamingServer[mvmv1.GetEntriesResponse]) error {
	end := req.End
	if end == 0 || end > uint64(len(h.leaves)) {
		end = uint64(len(h.leaves))
	}
	return s.Send(&mvmv1.GetEntriesResponse{FirstIndex: req.Start, Leaves: h.leaves[req.Start:end]})
}

func (h *hostileServer) GetCheckpoint(context.Context, *mvmv1.GetCheckpointRequest) (*mvmv1.GetCheckpointResponse, error) {
	return &mvmv1.GetCheckpointResponse{Checkpoint: h.checkpoint}, nil
}

func (h *hostileServer) GetCertificates(ctx context.Context, req *mvmv1.GetCertificatesRequest) (*mvmv1.GetCertificatesResponse, error) {
	if h.cert != nil {
		return &mvmv1.GetCertificatesResponse{Certificates: [][]byte{h.cert}}, nil
	}
	return h.real.API.GetCertificates(ctx, req)
}

func (h *hostileServer) GetConsistencyProof(ctx context.Context, req *mvmv1.GetConsistencyProofRequest) (*mvmv1.GetConsistencyProofResponse, error) {
	if h.proofNodes == nil {
		return h.real.API.GetConsistencyProof(ctx, req)
	}
	hashes, err := tlog.ConsistencyProof(h.proofNodes, req.From, req.To)
	return &mvmv1.GetConsistencyProofResponse{Hashes: hashes}, err
}

// serveHostile starts h on loopback over real mutual TLS with the dev
// server certificate of certs, and returns its address.
func serveHostile(t *testing.T, certs string, h mvmv1.ExchangeServiceServer) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(certs, "server.crt"), filepath.Join(certs, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)))
	mvmv1.RegisterExchangeServiceServer(srv, h)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func readCertDER(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	return blk.Bytes
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// signedLog builds the tree of leaves and signs its checkpoint with s, as
// an operator holding the log key can.
func signedLog(t *testing.T, leaves [][]byte, s note.Signer) ([]byte, tlog.NodeMap) {
	t.Helper()
	nodes := tlog.NodeMap{}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		if err := tree.Append(tlog.LeafHash(l), func(id compact.NodeID, hash []byte) { nodes[id] = hash }); err != nil {
			t.Fatal(err)
		}
	}
	root, err := tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(s, s.Name(), uint64(len(leaves)), root)
	if err != nil {
		t.Fatal(err)
	}
	return cp, nodes
}

func mustVerifier(t *testing.T, certs string) note.Verifier {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// realLeaves reads every leaf of the real log through c.
func realLeaves(t *testing.T, c *mvmclient.Client) [][]byte {
	t.Helper()
	var leaves [][]byte
	if err := c.Entries(ctxT(t), 0, 0, func(_ uint64, leaf []byte) error {
		leaves = append(leaves, leaf)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return leaves
}

// realCheckpoint is the real server's checkpoint of size (0: the latest).
func realCheckpoint(t *testing.T, c *mvmclient.Client, size uint64) []byte {
	t.Helper()
	cp, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return cp.Checkpoint
}

// movedLeaf is leaf as entry index, received d later: a leaf the log lacks.
func movedLeaf(t *testing.T, leaf []byte, index uint64, d time.Duration) []byte {
	t.Helper()
	en, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := entry.NewLeaf(index, en.ReceivedAt.AsTime().Add(d), en.Envelope, en.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	return moved
}

// renotedAck is the acknowledgement leaf ack as entry index with its note
// changed to text under its signature (which then does not verify).
func renotedAck(t *testing.T, ack []byte, index uint64, text string) []byte {
	t.Helper()
	en, err := entry.DecodeLeaf(ack)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(en.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	a := &mvmv1.Acknowledgement{}
	if err := proto.Unmarshal(env.Payload, a); err != nil {
		t.Fatal(err)
	}
	a.Note = text
	if env.Payload, err = proto.Marshal(a); err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := entry.NewLeaf(index, en.ReceivedAt.AsTime(), raw, en.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// logKeySigner is the real log key of the PKI in certs, as an operator
// holding it signs with.
func logKeySigner(t *testing.T, certs string) note.Signer {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(certs, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stateCopy copies the saved state file state into a fresh temporary
// directory and returns the copy's path.
func stateCopy(t *testing.T, state string) string {
	t.Helper()
	s := filepath.Join(t.TempDir(), "state.json")
	copyFile(t, state, s)
	return s
}

// ackedExchange is a fresh exchange whose log holds the genesis, package id
// submitted, its acknowledgement noted "seen" and a second submission.
func ackedExchange(t *testing.T) (e *testenv.Env, id string) {
	t.Helper()
	e = testenv.New(t)
	id = strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2"))[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", id, "--note", "seen")
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "3", "--lon", "4")
	return e, id
}
