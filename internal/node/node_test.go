package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/dbcheck"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/verify"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const nodeName = "tr-node"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func target(responder string) *mvmv1.TargetPackage {
	d := sha256.Sum256([]byte("evidence"))
	return &mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
		Locations:      []*mvmv1.Location{{Lat: 34.0151, Lon: 71.5249, PrecisionM: 50, Description: "compound"}},
		SuspectedGroup: "group", Summary: "suspected safe house", Priority: mvmv1.Priority_PRIORITY_HIGH,
		Tlp: mvmv1.Tlp_TLP_AMBER, EvidenceSha256: [][]byte{d[:]}, Responder: responder}
}

func ack(id string) *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id, Note: "received"}
}

func mustAppend(t *testing.T, c *mvmclient.Client, m proto.Message) uint64 {
	t.Helper()
	resp, err := c.Append(ctxT(t), m)
	if err != nil {
		t.Fatalf("append as %s: %v", c.ID, err)
	}
	return resp.Receipt.Index
}

// submit appends n packages, each acknowledged, and returns their ids.
func submit(t *testing.T, e *testenv.Env, n int) []string {
	t.Helper()
	pk, af := e.Client(testenv.Submitter), e.Client(testenv.Responder)
	var ids []string
	for range n {
		tp := target("")
		mustAppend(t, pk, tp)
		mustAppend(t, af, ack(tp.Header.MessageId))
		ids = append(ids, tp.Header.MessageId)
	}
	return ids
}

func status_(t *testing.T, c *mvmclient.Client) *mvmv1.GetStatusResponse {
	t.Helper()
	s, err := c.API.GetStatus(ctxT(t), &mvmv1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("GetStatus: %v", err)
	}
	return s
}

// caughtUp waits until the node's copy is the primary's: same latest
// checkpoint (the log's signature, byte for byte).
func caughtUp(t *testing.T, primary, node *testenv.Env) {
	t.Helper()
	pc, nc := primary.Client(testenv.Mediator), node.Client(testenv.Mediator)
	want, err := pc.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantSize := size(t, want.Checkpoint)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := nc.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
		if err == nil && size(t, got.Checkpoint) == wantSize {
			if !bytes.Equal(logSig(got.Checkpoint), logSig(want.Checkpoint)) {
				t.Fatalf("node's checkpoint of size %d:\n%s\nprimary's:\n%s", wantSize, got.Checkpoint, want.Checkpoint)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not catch up to size %d: %v (status %v)", wantSize, err, status_(t, nc))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func size(t *testing.T, cp []byte) uint64 {
	t.Helper()
	lines := strings.Split(string(cp), "\n")
	var n uint64
	for _, c := range lines[1] {
		n = n*10 + uint64(c-'0')
	}
	return n
}

// logSig is the checkpoint's text and first signature line (the log's).
func logSig(cp []byte) []byte {
	i := bytes.Index(cp, []byte("\n\n"))
	j := bytes.IndexByte(cp[i+2:], '\n')
	return cp[:i+2+j]
}

func list(t *testing.T, c *mvmclient.Client) []string {
	t.Helper()
	var ids []string
	if err := c.Packages(ctxT(t), "", 0, func(p *mvmv1.PackageSummary) error {
		ids = append(ids, p.PackageId+"="+p.Status)
		return nil
	}); err != nil {
		t.Fatalf("list as %s: %v", c.ID, err)
	}
	return ids
}

func entries(t *testing.T, c *mvmclient.Client) [][]byte {
	t.Helper()
	stream, err := c.API.GetEntries(ctxT(t), &mvmv1.GetEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		m, err := stream.Recv()
		if err != nil {
			break
		}
		out = append(out, m.Leaves...)
	}
	return out
}

// TestFollow: a node copies the primary's log, follows it live, and
// resumes after a restart of either side; its copy is the primary's, leaf
// for leaf, and its status says so.
func TestFollow(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 3)
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)

	submit(t, primary, 2) // live
	caughtUp(t, primary, node)

	node.Restart()
	submit(t, primary, 2)
	caughtUp(t, primary, node)

	primary.Restart()
	submit(t, primary, 2)
	caughtUp(t, primary, node)

	primary.Stop()
	node.Restart() // the primary away: the node still serves its copy
	primary.Restart()
	submit(t, primary, 1)
	caughtUp(t, primary, node)

	tr, ntr := primary.Client(testenv.Mediator), node.Client(testenv.Mediator)
	if got, want := entries(t, ntr), entries(t, tr); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("node's entries differ from the primary's (%d vs %d)", len(got), len(want))
	}
	st := status_(t, ntr)
	want := uint64(1 + 2*10)
	if st.Role != "node" || st.Size != want || st.VerifiedSize != want || st.PrimarySize != want || st.Alarm != "" || st.Primary != primary.Addr {
		t.Errorf("node status %v, want node of %s at %d, no alarm", st, primary.Addr, want)
	}
	if ps := status_(t, tr); ps.Role != "primary" || ps.Size != want {
		t.Errorf("primary status %v", ps)
	}
}

// TestNodeReadsScoped: every party reads on the node what it reads on the
// primary, no more: a responder does not see the other responder's
// packages there either.
func TestNodeReadsScoped(t *testing.T) {
	primary := testenv.NewPKI(t, devpki.Options{SecondResponder: true})
	pk := primary.Client(testenv.Submitter)
	var forAF, forIR int
	for i := range 6 {
		r := "af"
		if i%3 == 0 {
			r, forIR = "ir", forIR+1
		} else {
			forAF++
		}
		mustAppend(t, pk, target(r))
	}
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	for _, who := range []string{testenv.Submitter, testenv.Responder, "ir-interior", testenv.Mediator, testenv.Mediator2} {
		got, want := list(t, node.Client(who)), list(t, primary.Client(who))
		if !slices.Equal(got, want) {
			t.Errorf("%s lists on the node %v, on the primary %v", who, got, want)
		}
		switch who {
		case testenv.Responder:
			if len(got) != forAF {
				t.Errorf("af lists %d packages on the node, want its %d", len(got), forAF)
			}
		case "ir-interior":
			if len(got) != forIR {
				t.Errorf("ir lists %d packages on the node, want its %d", len(got), forIR)
			}
		}
	}
}

// TestNodeRefusesWrites: every write sent to a node is refused with
// FailedPrecondition naming the primary, and changes nothing.
func TestNodeRefusesWrites(t *testing.T) {
	primary := testenv.New(t)
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	pk := node.Client(testenv.Submitter)
	check := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), primary.Addr) {
			t.Errorf("%s on a node: %v, want FailedPrecondition naming %s", what, err, primary.Addr)
		}
	}
	_, err := pk.Append(ctxT(t), target(""))
	check("Append", err)
	stream, err := pk.API.AppendStream(ctxT(t))
	if err == nil {
		env, _ := pk.Seal(target(""))
		_ = stream.Send(&mvmv1.AppendStreamRequest{Envelope: env})
		_, err = stream.Recv()
	}
	check("AppendStream", err)
	_, err = node.Client(testenv.Mediator).API.AddCosignature(ctxT(t), &mvmv1.AddCosignatureRequest{Checkpoint: []byte("x"), SignatureLine: "y"})
	check("AddCosignature", err)
	up, err := pk.API.UploadEvidence(ctxT(t))
	if err == nil {
		_ = up.Send(&mvmv1.UploadEvidenceRequest{})
		_, err = up.CloseAndRecv()
	}
	check("UploadEvidence", err)
	if st := status_(t, node.Client(testenv.Mediator)); st.Size != 1 {
		t.Errorf("node size %d after refused writes, want 1", st.Size)
	}
	// The primary still takes them.
	mustAppend(t, primary.Client(testenv.Submitter), target(""))
}

// TestNodeStartsOnlyWithGenesis: a node with an empty file whose primary
// is away fails to start, saying so, instead of serving an empty log.
func TestNodeStartsOnlyWithGenesis(t *testing.T) {
	primary := testenv.New(t)
	addr := primary.Addr
	primary.Stop()
	cfg := server.Config{Listen: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "node.db"), CertsDir: primary.Certs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Node:   server.NodeConfig{Follow: addr, As: nodeName, StartTimeout: 500 * time.Millisecond}}
	s, err := server.Start(cfg)
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("a node started with an empty file and no primary")
	}
	if !strings.Contains(err.Error(), "no verified genesis from the primary at "+addr) {
		t.Errorf("error %q does not say the primary gave no genesis", err)
	}
	if _, err := server.Start(server.Config{Listen: "127.0.0.1:0", DB: cfg.DB, CertsDir: primary.Certs,
		Node: server.NodeConfig{Follow: addr}}); err == nil || !strings.Contains(err.Error(), "--as") {
		t.Errorf("a node without --as: %v, want an error naming --as", err)
	}
}

// TestNodeSavesVerifierState: a node stopped cleanly leaves the verifier's
// state beside its file, one that resumes at the node's size, and the
// next start takes it (and removes it: a state is good for one start).
func TestNodeSavesVerifierState(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 3)
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	node.Stop()

	genesis, err := os.ReadFile(filepath.Join(primary.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(node.DB + ".verifier")
	if err != nil {
		t.Fatalf("no verifier state after a clean stop: %v", err)
	}
	v, err := verify.Resume(fh, verify.Options{Genesis: genesis, Bounded: true})
	fh.Close()
	if err != nil {
		t.Fatalf("the saved state does not resume: %v", err)
	}
	if got, want := v.Size(), uint64(1+2*3); got != want {
		t.Errorf("the saved state stands at %d entries, want %d", got, want)
	}
	v.Close()

	node.Restart()
	submit(t, primary, 1)
	caughtUp(t, primary, node)
	if _, err := os.Stat(node.DB + ".verifier"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the state file after a start: %v, want it taken and removed", err)
	}
}

// TestNodePackageIndex: the package-state index the node writes from its
// verifier's states (ledger.ReplicateVerified) answers as the primary's:
// packages copied in one piece and acknowledged in a later one are listed
// once, with the status after the acknowledgement, as on the primary.
func TestNodePackageIndex(t *testing.T) {
	primary := testenv.New(t)
	pk, af := primary.Client(testenv.Submitter), primary.Client(testenv.Responder)
	var ids []string
	for range 3 {
		tp := target("")
		mustAppend(t, pk, tp)
		ids = append(ids, tp.Header.MessageId)
	}
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	mustAppend(t, af, ack(ids[0]))
	mustAppend(t, af, ack(ids[2]))
	caughtUp(t, primary, node)

	tr, ntr := primary.Client(testenv.Mediator), node.Client(testenv.Mediator)
	want := list(t, tr)
	if len(want) != 3 || !slices.ContainsFunc(want, func(s string) bool { return strings.HasSuffix(s, "=acknowledged") }) {
		t.Fatalf("the primary lists %v, want 3 packages, some acknowledged", want)
	}
	if got := list(t, ntr); !slices.Equal(got, want) {
		t.Errorf("the node lists %v, the primary %v", got, want)
	}
	node.Stop()
	primary.Stop()
	if got, want := dumpPackageIndex(t, node.DB), dumpPackageIndex(t, primary.DB); got != want {
		t.Errorf("the node's package-state index\n%s\nthe primary's\n%s", got, want)
	}
}

// dumpPackageIndex returns every record of the package-state index of the
// store at path (the state keys of packages, pkglist, pkgdue).
func dumpPackageIndex(t *testing.T, path string) string {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b strings.Builder
	err = st.DB().View(func(tx *bolt.Tx) error {
		for _, name := range store.PackageIndexBuckets {
			if err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				if string(name) != store.BucketPackages || store.IsStateKey(k) {
					fmt.Fprintf(&b, "%s %q %x\n", name, k, v)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A node's new file has 16 KiB pages (its commits are large and mostly
// appends: a quarter as many pages written), the primary's the OS's; the
// node's file passes the offline check (server --verify-db) and its
// copy reads as the primary's.
func TestNodeFileOfLargerPages(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 5)
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	node.Stop()
	primary.Stop()
	pageSize := func(path string) int {
		t.Helper()
		db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Info().PageSize
	}
	if got := pageSize(node.DB); got != 16<<10 {
		t.Errorf("the node's file has pages of %d bytes, want 16 KiB", got)
	}
	if got := pageSize(primary.DB); got != os.Getpagesize() {
		t.Errorf("the primary's file has pages of %d bytes, want the OS's %d", got, os.Getpagesize())
	}
	rep, err := dbcheck.File(node.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Damage {
		t.Errorf("the node's file: %s", d)
	}
	if got, want := dumpPackageIndex(t, node.DB), dumpPackageIndex(t, primary.DB); got != want {
		t.Errorf("the node's package-state index\n%s\nthe primary's\n%s", got, want)
	}
}
