package service_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/dbcheck"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// operatorURI is the dev identity the backup tests make an operator.
const operatorURI = "spiffe://" + devpki.DefaultTrustDomain + "/party/tr/" + testenv.Mediator

func withOperators(uris ...string) func(*server.Config) {
	return func(c *server.Config) { c.Operators = uris }
}

// TestBackupUnderLoad takes a backup while several clients append as fast
// as they can. The copy is a consistent prefix of the live log: a server
// started on it serves the copy's checkpoint, an audit of it passes and
// reaches that checkpoint's root, the live log proves itself consistent
// with it, and the offline check finds nothing wrong.
func TestBackupUnderLoad(t *testing.T) {
	env := testenv.New(t, withOperators(operatorURI))
	v := logVerifier(t, env.Certs)
	ctx := context.Background()

	var appended atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		c := env.Client(testenv.Submitter)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Append(ctx, pkg(time.Now())); err != nil {
					t.Errorf("append during the backup: %v", err)
					return
				}
				appended.Add(1)
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	before := appended.Load()
	info, err := env.Client(testenv.Mediator).Backup(ctx, f)
	if err != nil {
		t.Fatalf("backup by an operator: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	close(stop)
	wg.Wait()
	if after := appended.Load(); after <= before {
		t.Errorf("no append completed while and after the backup was taken (%d before, %d after)", before, after)
	}

	live := env.Server.Ledger().Head().Size
	if info.Size < 2 || info.Size > live {
		t.Fatalf("backup of size %d, live log of size %d: want 1 < backup <= live", info.Size, live)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != info.Bytes {
		t.Errorf("backup file: %v bytes (%v), announced %d", fi.Size(), err, info.Bytes)
	}
	cp, _, err := tlog.OpenCheckpoint(info.Checkpoint, v.Name(), v)
	if err != nil {
		t.Fatalf("backup checkpoint: %v", err)
	}
	if cp.Size != info.Size {
		t.Fatalf("backup checkpoint of size %d, backup of %d entries", cp.Size, info.Size)
	}
	t.Logf("backup: %d of %d entries, %d bytes", info.Size, live, info.Bytes)

	// The live log is consistent with the copy: the copy is its prefix.
	lc := env.Client(testenv.Mediator2)
	liveCP, err := lc.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	lcp, _, err := tlog.OpenCheckpoint(liveCP.Checkpoint, v.Name(), v)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := lc.API.GetConsistencyProof(ctx, &mvmv1.GetConsistencyProofRequest{From: cp.Size, To: lcp.Size})
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(cp.Size, lcp.Size, proof.Hashes, cp.Hash, lcp.Hash); err != nil {
		t.Errorf("live log inconsistent with its backup: %v", err)
	}

	rep, err := dbcheck.File(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Damage {
		t.Errorf("verify-db on the backup: %s", d)
	}
	if rep.Entries != info.Size || rep.LatestCheckpoint != info.Size {
		t.Errorf("verify-db: %s; want %d entries", rep.Summary(), info.Size)
	}

	// A server started on the copy serves the copy's checkpoint, and an
	// audit of it passes.
	restored := testenv.Start(t, env.Certs, path)
	rc := restored.Client(testenv.Mediator2)
	got, err := rc.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Checkpoint, info.Checkpoint) {
		t.Errorf("restored server's checkpoint:\n%s\nwant the backup's:\n%s", got.Checkpoint, info.Checkpoint)
	}
	arep, err := audit.Run(ctx, rc, info.Size, audit.Options{})
	if err != nil {
		t.Fatalf("audit of the restored server: %v", err)
	}
	if arep.Entries != info.Size || !bytes.Equal(arep.Root, cp.Hash) {
		t.Errorf("audit: %d entries, root %x; want %d, %x", arep.Entries, arep.Root, info.Size, cp.Hash)
	}
	// And it goes on from there.
	resp := mustAppend(t, restored.Client(testenv.Submitter), pkg(time.Now()))
	if resp.Receipt.Index != info.Size {
		t.Errorf("first append on the restored server at %d, want %d", resp.Receipt.Index, info.Size)
	}
}

// TestBackupOnlyOperators: the backup is refused with PermissionDenied to
// every identity that is not a configured operator, and to everyone when
// none is configured (the default).
func TestBackupOnlyOperators(t *testing.T) {
	ctx := context.Background()
	configured := testenv.New(t, withOperators(operatorURI))
	for _, who := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator2} {
		_, err := configured.Client(who).Backup(ctx, io.Discard)
		wantCode(t, err, codes.PermissionDenied, "only the server's operator identities may take backups", "is not one")
	}
	if _, err := configured.Client(testenv.Mediator).Backup(ctx, io.Discard); err != nil {
		t.Errorf("operator: %v", err)
	}

	unconfigured := testenv.Start(t, configured.Certs, filepath.Join(t.TempDir(), "mvm.db"))
	for _, who := range []string{testenv.Submitter, testenv.Mediator} {
		_, err := unconfigured.Client(who).Backup(ctx, io.Discard)
		wantCode(t, err, codes.PermissionDenied, "no operator identities", "nobody may take backups")
	}
}

// TestBackupOneAtATime: while a backup is being taken, another is refused
// with ResourceExhausted (each needs a copy of the database on disk).
func TestBackupOneAtATime(t *testing.T) {
	env := testenv.New(t, withOperators(operatorURI))
	tr := env.Client(testenv.Mediator)
	service.BackupSlot <- struct{}{} // a backup in progress
	_, err := tr.Backup(context.Background(), io.Discard)
	<-service.BackupSlot
	wantCode(t, err, codes.ResourceExhausted, "another backup is being taken")
	if _, err := tr.Backup(context.Background(), io.Discard); err != nil {
		t.Errorf("backup once the other is done: %v", err)
	}
}

// TestOperatorURIs: an operator is named by its exact, canonical SPIFFE
// URI; anything else stops the server from starting.
func TestOperatorURIs(t *testing.T) {
	for _, ok := range []string{operatorURI, "spiffe://other.example/party/ops/alice"} {
		if err := service.CheckOperator(ok); err != nil {
			t.Errorf("CheckOperator(%q): %v", ok, err)
		}
	}
	bad := []string{
		"", "tr-verifier", "https://mvm.example/party/tr/tr-verifier",
		"spiffe://mvm.example/party/tr", "spiffe://mvm.example/party/tr/tr-verifier/x",
		"spiffe://mvm.example/party/tr/tr-verifier?x=1", "spiffe://MVM.example/party/tr/tr-verifier",
		"spiffe://mvm.example/party/tr/Tr-Verifier", "spiffe://mvm.example:443/party/tr/tr-verifier",
	}
	for _, uri := range bad {
		if err := service.CheckOperator(uri); err == nil {
			t.Errorf("CheckOperator(%q) accepted it", uri)
		}
	}
	certs := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	s, err := server.Start(server.Config{Listen: "127.0.0.1:0", CertsDir: certs, DB: filepath.Join(t.TempDir(), "mvm.db"),
		Operators: []string{"spiffe://mvm.example/party/tr"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("server started with a malformed operator URI")
	}
	t.Logf("refused: %v", err)
}
