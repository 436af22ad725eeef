package cli

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// hostileWatch is a hostileServer that streams its own leaves to Watch
// and answers GetCheckpoint with one checkpoint after another.
type hostileWatch struct {
	hostileServer
	stream      [][]byte // Watch sends stream[from:], then ends the stream
	mu          *sync.Mutex
	checkpoints [][]byte // GetCheckpoint's answers in turn, the last repeated
}

func (h *hostileWatch) Watch(req *mvmv1.WatchRequest, s grpc.ServerStreamingServer[mvmv1.WatchResponse]) error {
	for i := req.From; i < uint64(len(h.stream)); i++ {
		if err := s.Send(&mvmv1.WatchResponse{Index: i, Leaf: h.stream[i]}); err != nil {
			return err
		}
	}
	return nil
}

func (h *hostileWatch) GetCheckpoint(context.Context, *mvmv1.GetCheckpointRequest) (*mvmv1.GetCheckpointResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cp := h.checkpoints[0]
	if len(h.checkpoints) > 1 {
		h.checkpoints = h.checkpoints[1:]
	}
	return &mvmv1.GetCheckpointResponse{Checkpoint: cp}, nil
}

// GetConsistencyProof answers from nodes if set, else from the real server.
func (h *hostileWatch) GetConsistencyProof(ctx context.Context, req *mvmv1.GetConsistencyProofRequest) (*mvmv1.GetConsistencyProofResponse, error) {
	if h.nodes == nil {
		return h.real.API.GetConsistencyProof(ctx, req)
	}
	hashes, err := tlog.ConsistencyProof(h.nodes, req.From, req.To)
	return &mvmv1.GetConsistencyProofResponse{Hashes: hashes}, err
}

// TestHostileServerWatch: watch prints an entry only once it verifies. A
// made-up entry or agreement entry, an entry altered under its signature (in a log whose
// checkpoint the operator signs with the real log key), an amendment not
// signed by every party (likewise), a checkpoint signed by another key, a
// checkpoint inconsistent with one seen before in the run or with the
// --state file: each ends the watch with exit 1, naming the entry, and
// nothing from that entry on is printed.
func TestHostileServerWatch(t *testing.T) {
	e, _ := ackedExchange(t)
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	cps := map[uint64][]byte{}
	for _, n := range []uint64{2, 3, 4} {
		cps[n] = realCheckpoint(t, real, n)
	}
	// Made up: the acknowledgement a second later, a leaf the log lacks.
	moved := movedLeaf(t, leaves[2], 2, time.Second)
	movedGenesis := movedLeaf(t, leaves[0], 0, time.Second)
	// Altered: the acknowledgement's note changed under its signature.
	altered := renotedAck(t, leaves[2], 2, "never seen")
	logSigner := logKeySigner(t, e.Certs)
	alteredLog := [][]byte{leaves[0], leaves[1], altered, leaves[3]}
	alteredCP, alteredNodes := signedLog(t, alteredLog, logSigner)

	// An amendment signed by the submitter alone, appended by the operator.
	p := genesisProto(t, e.Certs)
	p.Header = mvmclient.NewHeader()
	p.Title = "the operator's agreement"
	sub, err := entry.DecodeLeaf(leaves[3])
	if err != nil {
		t.Fatal(err)
	}
	lone, err := entry.NewLeaf(4, sub.ReceivedAt.AsTime().Add(time.Second), sealBy(t, e, p, testenv.Submitter), sub.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	amendLog := append(leaves[:4:4], lone)
	amendCP, amendNodes := signedLog(t, amendLog, logSigner)

	// Another key, with the log's name: the real tree of size 4.
	otherKey, _, err := tlog.GenerateLogKey(logSigner.Name())
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := tlog.NewSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	realCP4, _, err := tlog.OpenCheckpoint(cps[4], logSigner.Name(), mustVerifier(t, e.Certs))
	if err != nil {
		t.Fatal(err)
	}
	otherCP, err := tlog.SignCheckpoint(otherSigner, logSigner.Name(), 4, realCP4.Hash)
	if err != nil {
		t.Fatal(err)
	}

	state := filepath.Join(t.TempDir(), "state.json")
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator2, "audit", "--state", state, "--quiet", "--no-cosign")

	for _, tc := range []struct {
		name  string
		h     hostileWatch
		args  []string
		state bool
		want  string // the entries printed, "#0 #1"
		err   string // "" = exit 0
	}{
		{"honest", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: leaves, checkpoints: [][]byte{cps[2], cps[4]}},
			[]string{"--count", "4"}, false, "#0 #1 #2 #3", ""},
		{"honest, --state", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: leaves, checkpoints: [][]byte{cps[4]}},
			[]string{"--count", "4"}, true, "#0 #1 #2 #3", ""},
		{"rolled back behind the saved state", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: leaves, checkpoints: [][]byte{cps[2]}},
			nil, true, "", "entry 0 not printed: the log does not verify, nothing done: log rolled back: had size 4, server now shows 2"},
		{"honest, from 3", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: leaves, checkpoints: [][]byte{cps[2], cps[4]}},
			[]string{"--from", "3", "--count", "1"}, false, "#3", ""},
		{"a made-up entry", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: [][]byte{leaves[0], leaves[1], moved, leaves[3]},
			checkpoints: [][]byte{cps[2], cps[4]}},
			nil, false, "#0 #1", "entry 2 not printed: entry 2: not in the log of the checkpoint of size 4"},
		{"a made-up agreement entry", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: append([][]byte{movedGenesis}, leaves[1:]...),
			checkpoints: [][]byte{cps[4]}},
			nil, false, "", "entry 0 not printed: entry 0: not in the log of the checkpoint of size 4"},
		{"an altered entry under a checkpoint of the log key", hostileWatch{hostileServer: hostileServer{leaves: alteredLog, nodes: alteredNodes},
			stream: alteredLog, checkpoints: [][]byte{alteredCP}},
			nil, false, "#0 #1", "entry 2 not printed: entry 2: signature does not verify"},
		{"an amendment one party signed, under a checkpoint of the log key", hostileWatch{hostileServer: hostileServer{leaves: amendLog, nodes: amendNodes},
			stream: amendLog, checkpoints: [][]byte{cps[4], amendCP}},
			nil, false, "#0 #1 #2 #3", "entry 4 not printed: the log does not verify, nothing done: entry 4:"},
		{"a checkpoint signed by another key", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: leaves, checkpoints: [][]byte{cps[2], otherCP}},
			nil, false, "#0 #1", "entry 2 not printed: the server's checkpoint: "},
		{"a checkpoint forked from one seen before", hostileWatch{hostileServer: hostileServer{leaves: leaves}, stream: leaves, checkpoints: [][]byte{cps[3], alteredCP}},
			nil, false, "#0 #1 #2", "entry 3 not printed: the server's checkpoint of size 4: inconsistent with checkpoint of size 3"},
		{"a checkpoint forked from the saved state", hostileWatch{hostileServer: hostileServer{leaves: alteredLog, nodes: alteredNodes},
			stream: alteredLog, checkpoints: [][]byte{alteredCP}},
			nil, true, "", "entry 0 not printed: the log does not verify, nothing done: inconsistent with checkpoint of size 4: same size, different root (forked log)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &tc.h
			h.real, h.mu = real, &sync.Mutex{}
			addr := serveHostile(t, e.Certs, h)
			args := append([]string{"watch", "--timeout", "10s"}, tc.args...)
			if tc.state {
				args = append(args, "--state", stateCopy(t, state))
			}
			out, errs, code := runCLI(t, addr, e.Certs, testenv.Mediator, args...)
			var printed []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(l); len(f) > 0 {
					printed = append(printed, f[0])
				}
			}
			if got := strings.Join(printed, " "); got != tc.want {
				t.Errorf("watch printed %q, want %q\nstdout:\n%s\nstderr: %s", got, tc.want, out, errs)
			}
			wantCode := ExitOK
			if tc.err != "" {
				wantCode = ExitFail
			}
			if code != wantCode || !strings.Contains(errs, tc.err) {
				t.Errorf("watch: exit %d, stderr %q; want exit %d naming %q", code, errs, wantCode, tc.err)
			}
		})
	}
}

// TestHostileServerWatchAmendmentUnseen: watching from past an amendment
// watch has not seen, the agreement in force is derived from the log
// again, not taken to be the one before: an entry the amendment's tighter
// clock skew refuses (in a log whose checkpoint the operator signs with
// the real log key) is not printed.
func TestHostileServerWatchAmendmentUnseen(t *testing.T) {
	e := testenv.New(t)
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	amend(t, e, 0, func(p *mvmv1.Agreement) { p.MaxClockSkew = durationpb.New(time.Second) })
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	if len(leaves) != 3 {
		t.Fatalf("log has %d entries, want 3", len(leaves))
	}
	cp2 := realCheckpoint(t, real, 2)
	// The submission again, received a minute after it was signed: within
	// the genesis' 5 minutes, not the amendment's second.
	late := movedLeaf(t, leaves[1], 3, time.Minute)
	logSigner := logKeySigner(t, e.Certs)
	forged := append(leaves[:3:3], late)
	forgedCP, nodes := signedLog(t, forged, logSigner)
	h := &hostileWatch{hostileServer: hostileServer{real: real, leaves: forged, nodes: nodes}, mu: &sync.Mutex{},
		stream: forged, checkpoints: [][]byte{cp2, forgedCP}}
	addr := serveHostile(t, e.Certs, h)
	out, errs, code := runCLI(t, addr, e.Certs, testenv.Mediator, "watch", "--from", "3", "--timeout", "10s")
	want := "entry 3 not printed: entry 3: "
	if code != ExitFail || out != "" || !strings.Contains(errs, want) || !strings.Contains(errs, "the agreement allows at most 1s of skew") {
		t.Errorf("watch: exit %d, stdout %q, stderr %q; want exit 1, nothing printed, naming %q and the amendment's skew", code, out, errs, want)
	}
}
