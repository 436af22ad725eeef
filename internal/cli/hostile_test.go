package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestHostileServerAmendment: a server that doctors the agreement (the
// real one plus a second CA for af, as in issue 12) cannot get an
// amendment proposed or signed on its word. amend propose and amend sign
// derive the agreement in force from the log; a doctored log fails to
// verify and they refuse, naming why, writing nothing. With an honest log
// behind a doctored GetAgreement, the proposal amends the real agreement,
// and a doctored proposal shows the extra CA as a security-relevant change.
func TestHostileServerAmendment(t *testing.T) {
	e := testenv.New(t)
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	if len(leaves) != 2 {
		t.Fatalf("real log has %d entries, want 2", len(leaves))
	}
	cp2 := realCheckpoint(t, real, 0)
	cp1 := realCheckpoint(t, real, 1)

	// The doctored agreement: the real one plus another PKI's CA for af.
	other := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: other}); err != nil {
		t.Fatal(err)
	}
	foreignCA := readCertDER(t, filepath.Join(other, "ca-af.crt"))
	doctored := genesisProto(t, e.Certs)
	af := partyIn(t, doctored, "af")
	af.CaCertificates = append(af.CaCertificates, foreignCA)
	genesisEnv, err := os.ReadFile(filepath.Join(e.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	genesis0, err := entry.DecodeLeaf(leaves[0])
	if err != nil {
		t.Fatal(err)
	}
	entry1, err := entry.DecodeLeaf(leaves[1])
	if err != nil {
		t.Fatal(err)
	}
	// As the genesis: the pinned envelope's signatures over the doctored payload.
	docGenesis := withPayload(t, genesisEnv, doctored)
	docLeaf0, err := entry.NewLeaf(0, genesis0.ReceivedAt.AsTime(), docGenesis, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As an amendment at index 1: signed by one party, the one the server
	// could fool (it holds no party key itself).
	amendment := genesisProto(t, e.Certs)
	amendment.Header, amendment.AmendsIndex = mvmclient.NewHeader(), 0
	partyIn(t, amendment, "af").CaCertificates = partyIn(t, doctored, "af").CaCertificates
	docAmendment := sealBy(t, e, amendment, testenv.Submitter)
	docLeaf1, err := entry.NewLeaf(1, entry1.ReceivedAt.AsTime(), docAmendment, entry1.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	// Entry 1 with another receive time: what hiding an amendment behind
	// another entry comes to, a leaf the checkpoint does not commit to.
	altered1 := movedLeaf(t, leaves[1], 1, time.Second)
	// A checkpoint over the real log plus the doctored amendment at
	// index 2, signed with a key of the hostile server's own under the
	// log's name.
	origin, _, _ := strings.Cut(string(cp2), "\n")
	skey, _, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	ownSigner, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	docLeaf2, err := entry.NewLeaf(2, entry1.ReceivedAt.AsTime(), docAmendment, entry1.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	docLog := [][]byte{leaves[0], leaves[1], docLeaf2}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range docLog {
		if err := tree.Append(tlog.LeafHash(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	ownCP, err := tlog.SignCheckpoint(ownSigner, origin, 3, root)
	if err != nil {
		t.Fatal(err)
	}

	// The proposal the fooled proposer made: the doctored agreement as an
	// amendment of index 0, which parties would be asked to sign.
	proposal := filepath.Join(t.TempDir(), "doctored.env")
	if err := os.WriteFile(proposal, docAmendment, 0o644); err != nil {
		t.Fatal(err)
	}
	// A state saved at size 2, for the rollback case.
	state := filepath.Join(t.TempDir(), "state.json")
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "audit", "--state", state, "--quiet")

	for _, tc := range []struct {
		name       string
		h          hostileServer
		state      bool
		wantErr    string // "" = the commands succeed
		wantOutput string // with wantErr "", in amend sign's output
	}{
		{"doctored GetAgreement, honest log", hostileServer{agreement: docLeaf1, leaves: leaves, checkpoint: cp2},
			false, "", "! party af CA: added"},
		{"doctored genesis in the log", hostileServer{agreement: docLeaf0, leaves: [][]byte{docLeaf0, leaves[1]}, checkpoint: cp2},
			false, "entry 0: the genesis agreement is not the pinned one", ""},
		{"doctored amendment replacing an entry", hostileServer{agreement: docLeaf1, leaves: [][]byte{leaves[0], docLeaf1}, checkpoint: cp2},
			false, "the log does not verify, nothing done: entry 1: ", ""},
		{"an entry altered under the real checkpoint", hostileServer{agreement: leaves[0], leaves: [][]byte{leaves[0], altered1}, checkpoint: cp2},
			false, "the entries hash to a root other than the signed checkpoint's (size 2)", ""},
		{"doctored amendment appended, checkpoint signed by the server's own key", hostileServer{agreement: docLeaf2, leaves: docLog, checkpoint: ownCP},
			false, "the log does not verify, nothing done: checkpoint: ", ""},
		{"log rolled back behind the saved state", hostileServer{agreement: leaves[0], leaves: leaves[:1], checkpoint: cp1},
			true, "log rolled back: had size 2, server now shows 1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.real = real
			addr := serveHostile(t, e.Certs, &h)
			var stateArgs []string
			if tc.state {
				stateArgs = []string{"--state", stateCopy(t, state)}
			}
			out := filepath.Join(t.TempDir(), "a.env")
			before, _ := os.ReadFile(proposal)
			pout, perr, pcode := runCLI(t, addr, e.Certs, testenv.Submitter, append([]string{"amend", "propose", "--out", out, "--title", "x"}, stateArgs...)...)
			sout, serr, scode := runCLI(t, addr, e.Certs, testenv.Responder, append([]string{"amend", "sign", proposal, "--yes"}, stateArgs...)...)
			after, _ := os.ReadFile(proposal)
			aout, aerr, acode := runCLI(t, addr, e.Certs, testenv.Mediator, append([]string{"agreement", "show"}, stateArgs...)...)
			if tc.wantErr == "" {
				if acode != ExitOK || strings.Count(aout, ", CA ") != 4 {
					t.Errorf("agreement show: exit %d, want the 4 parties with one CA each:\n%s%s", acode, aout, aerr)
				}
				if pcode != ExitOK {
					t.Fatalf("propose: exit %d: %s", pcode, perr)
				}
				// The proposal amends the real agreement, whatever GetAgreement said.
				raw, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				env, _, err := readProposal(out, raw)
				if err != nil {
					t.Fatal(err)
				}
				p := &mvmv1.Agreement{}
				if err := proto.Unmarshal(env.Payload, p); err != nil {
					t.Fatal(err)
				}
				if n := len(partyIn(t, p, "af").CaCertificates); n != 1 || p.AmendsIndex != 0 {
					t.Errorf("propose built on the server's word: af has %d CAs, amends %d; want 1 CA, amends 0\n%s", n, p.AmendsIndex, pout)
				}
				if scode != ExitOK || !strings.Contains(sout, tc.wantOutput) {
					t.Errorf("sign: exit %d, stdout:\n%s\nstderr: %s\nwant %q", scode, sout, serr, tc.wantOutput)
				}
				return
			}
			for _, r := range []struct {
				what      string
				code      int
				out, errs string
			}{{"propose", pcode, pout, perr}, {"sign", scode, sout, serr}, {"agreement show", acode, aout, aerr}} {
				if r.code != ExitFail || !strings.Contains(r.errs, tc.wantErr) {
					t.Errorf("%s: exit %d, stderr %q; want exit %d naming %q\nstdout: %s", r.what, r.code, r.errs, ExitFail, tc.wantErr, r.out)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("propose wrote %s despite refusing", out)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("sign changed %s despite refusing", proposal)
			}
		})
	}
}

// withPayload returns the envelope raw with its payload replaced by p and
// its signatures kept (so that they no longer verify).
func withPayload(t *testing.T, raw []byte, p *mvmv1.Agreement) []byte {
	t.Helper()
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if env.Payload, err = proto.Marshal(p); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileServerShow: show prints a package only once its entries
// verify: a summary that lies, an entry changed, an entry of another
// package, an entry whose signature does not verify (from an operator who
// holds the log key and signs a checkpoint over it), a log rolled back
// behind the saved state: each is refused, naming why, and nothing is
// shown.
func TestHostileServerShow(t *testing.T) {
	e, id := ackedExchange(t)
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	cp := realCheckpoint(t, real, 0)
	cp3 := realCheckpoint(t, real, 3)
	pkg, err := real.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Leaves) != 2 {
		t.Fatalf("package has %d entries, want 2", len(pkg.Leaves))
	}
	edited := func(edit func(r *mvmv1.GetPackageResponse)) *mvmv1.GetPackageResponse {
		r := proto.Clone(pkg).(*mvmv1.GetPackageResponse)
		edit(r)
		return r
	}
	// The acknowledgement moved by a second: not the leaf the log holds.
	moved := movedLeaf(t, leaves[2], 2, time.Second)
	// The acknowledgement's note changed under its signature, in a log
	// whose checkpoint the operator signs with the real log key.
	forged := renotedAck(t, leaves[2], 2, "never seen")
	logSigner := logKeySigner(t, e.Certs)
	forgedLog := [][]byte{leaves[0], leaves[1], forged, leaves[3]}
	forgedCP, forgedNodes := signedLog(t, forgedLog, logSigner)

	state := filepath.Join(t.TempDir(), "state.json")
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator2, "audit", "--state", state, "--quiet", "--no-cosign")

	for _, tc := range []struct {
		name    string
		h       hostileServer
		state   bool
		wantErr string // "" = shown
	}{
		{"honest", hostileServer{leaves: leaves, checkpoint: cp}, true, ""},
		{"summary lies about the status", hostileServer{leaves: leaves, checkpoint: cp,
			pkg: edited(func(r *mvmv1.GetPackageResponse) { r.Package.Status = "verified" })},
			false, `the server's summary says status "verified", the signed entries "acknowledged"`},
		{"an entry changed", hostileServer{leaves: leaves, checkpoint: cp,
			pkg: edited(func(r *mvmv1.GetPackageResponse) { r.Leaves[1] = moved })},
			false, "entry 2: not in the log of the checkpoint of size 4"},
		{"an entry of another package", hostileServer{leaves: leaves, checkpoint: cp,
			pkg: edited(func(r *mvmv1.GetPackageResponse) { r.Leaves = append(r.Leaves, leaves[3]) })},
			false, "the log of checkpoint size 4 holds its entries [1 2], the server sent [1 2 3]"},
		{"an entry withheld, the summary consistent with the rest", hostileServer{leaves: leaves, checkpoint: cp,
			pkg: edited(func(r *mvmv1.GetPackageResponse) { r.Leaves = r.Leaves[:1]; r.Package.Status = "submitted" })},
			false, "the log of checkpoint size 4 holds its entries [1 2], the server sent [1]"},
		{"a forged signature under a checkpoint of the log key", hostileServer{leaves: forgedLog, checkpoint: forgedCP, nodes: forgedNodes,
			pkg: edited(func(r *mvmv1.GetPackageResponse) { r.Leaves[1] = forged })},
			false, "entry 2: signature does not verify"},
		{"log rolled back behind the saved state", hostileServer{leaves: leaves[:3], checkpoint: cp3},
			true, "log rolled back: had size 4, server now shows 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.real = real
			addr := serveHostile(t, e.Certs, &h)
			args := []string{"show", id}
			if tc.state {
				args = append(args, "--state", stateCopy(t, state))
			}
			out, errs, code := runCLI(t, addr, e.Certs, testenv.Mediator, args...)
			if tc.wantErr == "" {
				if code != ExitOK || !strings.Contains(out, "verified against checkpoint size 4: 2 signed entries") || !strings.Contains(out, "    note: seen\n") {
					t.Fatalf("show: exit %d\nstdout:\n%s\nstderr: %s", code, out, errs)
				}
				return
			}
			if code != ExitFail || !strings.Contains(errs, tc.wantErr) || out != "" {
				t.Errorf("show: exit %d, stderr %q, stdout %q; want exit %d naming %q and nothing shown", code, errs, out, ExitFail, tc.wantErr)
			}
		})
	}
}

// TestHostileServerBreaches: breaches --verify derives a party's breaches
// from the audited log and refuses a server's answer that hides one.
func TestHostileServerBreaches(t *testing.T) {
	e := testenv.New(t)
	for range 2 {
		mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	}
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	cp := realCheckpoint(t, real, 0)
	args := []string{"breaches", "--party", "af", "--as-of", "2099-01-01T00:00:00Z", "--verify"}
	honest, err := real.API.GetBreaches(ctxT(t), &mvmv1.GetBreachesRequest{Party: "af", AsOf: timestamppb.New(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	if len(honest.Breaches) != 2 {
		t.Fatalf("the server lists %d breaches of af, want 2", len(honest.Breaches))
	}
	twice := &mvmv1.GetBreachesResponse{AsOf: honest.AsOf, Breaches: []*mvmv1.Breach{honest.Breaches[0], honest.Breaches[0]}}
	for _, tc := range []struct {
		name     string
		breaches *mvmv1.GetBreachesResponse
		wantErr  string
	}{
		{"honest", nil, ""},
		{"a breach hidden", &mvmv1.GetBreachesResponse{}, "the server's answer differs from the log: it lists 0 breaches, the log gives 2"},
		{"one breach listed twice, the other hidden", twice, "the server's answer differs from the log: it lists 2 breaches, the log gives 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveHostile(t, e.Certs, &hostileServer{real: real, leaves: leaves, checkpoint: cp, breaches: tc.breaches})
			out, errs, code := runCLI(t, addr, e.Certs, testenv.Responder, args...)
			if !strings.Contains(out, "breaches as of 2099-01-01T00:00:00Z: 2\n") || !strings.Contains(out, "  af     acknowledge  ") {
				t.Errorf("the log's breaches not shown:\n%s", out)
			}
			switch {
			case tc.wantErr == "" && code != ExitOK:
				t.Errorf("exit %d: %s", code, errs)
			case tc.wantErr != "" && (code != ExitFail || !strings.Contains(errs, tc.wantErr)):
				t.Errorf("exit %d, stderr %q; want exit 1 naming %q", code, errs, tc.wantErr)
			}
		})
	}
}
