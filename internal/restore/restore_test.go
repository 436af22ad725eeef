package restore_test

// Real parts: a dev PKI, the exchange's server on loopback with mutual TLS
// and a bbolt file (testenv) as the source, a C2SP witness (package
// witness's Handler) over HTTP on loopback, real signatures.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/restore"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const witnessName = "witness.test/w"

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// source is a running primary with a few entries, a checkpoint cosigned
// by a C2SP witness and a mediator, and a reader of it.
type source struct {
	e       *testenv.Env
	genesis []byte
	signer  note.Signer
	c       *mvmclient.Client
	size    uint64
}

func newSource(t *testing.T) *source {
	t.Helper()
	dir := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateCosignerKey(witnessName)
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.AddWitness(dir, witnessName, vkey); err != nil {
		t.Fatal(err)
	}
	logKey, err := note.NewVerifier(read(t, dir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	h := &witness.Handler{Origin: logKey.Name(), LogKey: logKey, Key: skey,
		State: witness.FileState(filepath.Join(t.TempDir(), "w.state")), Logger: quiet()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(lis)
	t.Cleanup(func() { hs.Close() })
	e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), func(c *server.Config) {
		c.Witnesses = []witness.Target{{Name: witnessName, URL: "http://" + lis.Addr().String()}}
		c.WitnessInterval, c.WitnessBackoff = 5*time.Millisecond, 20*time.Millisecond
	})
	s := &source{e: e, genesis: readRaw(t, dir, "agreement.envelope"), c: e.Client(testenv.Mediator)}
	if s.signer, err = tlog.NewSigner(read(t, dir, "log.key")); err != nil {
		t.Fatal(err)
	}
	sub := e.Client(testenv.Submitter)
	for range 5 {
		if _, err := sub.Append(ctxT(t), &mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
			Locations: []*mvmv1.Location{{Lat: 34, Lon: 71, PrecisionM: 50}}, Summary: "a compound",
			Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER}); err != nil {
			t.Fatal(err)
		}
	}
	s.size = e.Server.Ledger().Head().Size
	// The witness cosigns the latest checkpoint; a mediator too.
	deadline := time.Now().Add(15 * time.Second)
	for {
		cosigs, err := e.Server.Ledger().Store().Cosignatures(s.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(cosigs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the witness did not cosign in 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func readRaw(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *source) options(db string, src restore.Source) restore.Options {
	return restore.Options{Source: src, DB: db, Genesis: s.genesis, Signer: s.signer, Batch: 2, Logger: quiet()}
}

// TestRestore: the restored file holds every entry, and every checkpoint
// of the source byte for byte with the cosignatures that verify (the
// witness's); a server started on it serves the latest and appends on.
func TestRestore(t *testing.T) {
	s := newSource(t)
	db := filepath.Join(t.TempDir(), "restored.db")
	// The source adds a cosignature under the witness's name by another
	// key to every checkpoint it lists: dropped, not restored.
	impostor, _, err := tlog.GenerateCosignerKey(witnessName)
	if err != nil {
		t.Fatal(err)
	}
	logKey, _ := note.NewVerifier(read(t, s.e.Certs, "log.vkey"))
	src := lying{Server: restore.Server{C: s.c}, listed: func(page [][]byte) [][]byte {
		for i, cp := range page {
			line, err := tlog.Cosign(impostor, cp, logKey.Name(), logKey)
			if err != nil {
				t.Fatal(err)
			}
			if page[i], err = tlog.AddCosignatures(cp, []string{line}); err != nil {
				t.Fatal(err)
			}
		}
		return page
	}}
	src.pageOf = 2 // the cursor pages
	o := s.options(db, src)
	want := allCheckpoints(t, s.e.Server.Ledger().Store())
	rep, err := restore.Run(ctxT(t), o)
	if err != nil {
		t.Fatal(err)
	}
	cosigs := 0
	for _, cp := range want {
		cosigs += len(cp.Cosignatures)
	}
	if rep.Size != s.size || rep.Checkpoints != len(want) || rep.Cosignatures != cosigs || rep.Dropped != len(want) || rep.Witnessed != 0 {
		t.Errorf("restored size %d, %d checkpoints with %d cosignatures (%d dropped), witnessed %d; want %d, %d with %d (%d), 0",
			rep.Size, rep.Checkpoints, rep.Cosignatures, rep.Dropped, rep.Witnessed, s.size, len(want), cosigs, len(want))
	}
	if len(want) < 3 || cosigs < 1 {
		t.Fatalf("the source holds %d checkpoints with %d cosignatures: the test needs several, cosigned", len(want), cosigs)
	}

	r := testenv.Start(t, s.e.Certs, db)
	st := r.Server.Ledger().Store()
	if got := allCheckpoints(t, st); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored checkpoints\n%+v\nwant the source's\n%+v", got, want)
	}
	for i := range s.size {
		a, _ := s.e.Server.Ledger().Store().Leaf(i)
		b, err := st.Leaf(i)
		if err != nil || string(a) != string(b) {
			t.Fatalf("entry %d differs after the restore (%v)", i, err)
		}
	}
	res, err := r.Client(testenv.Submitter).Append(ctxT(t), &mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
		Locations: []*mvmv1.Location{{Lat: 34, Lon: 71, PrecisionM: 50}}, Summary: "after the restore",
		Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER})
	if err != nil || res.Receipt.Index != s.size {
		t.Fatalf("append on the restored primary: index %v, %v; want %d", res.GetReceipt().GetIndex(), err, s.size)
	}
}

// allCheckpoints is every checkpoint st holds, with its cosignatures.
func allCheckpoints(t *testing.T, st *store.Store) []store.StoredCheckpoint {
	t.Helper()
	cps, more, err := st.Checkpoints(0, 0, 1<<20, 1<<30)
	if err != nil || more {
		t.Fatalf("checkpoints: %v (more %v)", err, more)
	}
	return cps
}

// lying is a source that changes what the real one serves.
type lying struct {
	restore.Server
	entry func(index uint64, leaf []byte) []byte
	cp    func(cp []byte) []byte
	// listed changes a page of ListCheckpoints; pageOf, if set, cuts
	// pages to that many.
	listed func(page [][]byte) [][]byte
	pageOf int
}

func (l lying) Checkpoints(ctx context.Context, after, atMost uint64) ([][]byte, bool, error) {
	page, more, err := l.Server.Checkpoints(ctx, after, atMost)
	if l.pageOf > 0 && len(page) > l.pageOf {
		page, more = page[:l.pageOf], true
	}
	if err == nil && l.listed != nil {
		page = l.listed(page)
	}
	return page, more, err
}

func (l lying) Entries(ctx context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	return l.Server.Entries(ctx, start, end, func(i uint64, leaf []byte) error {
		if l.entry != nil {
			leaf = l.entry(i, leaf)
		}
		return fn(i, leaf)
	})
}

func (l lying) Checkpoint(ctx context.Context) ([]byte, error) {
	cp, err := l.Server.Checkpoint(ctx)
	if err == nil && l.cp != nil && cp != nil {
		cp = l.cp(cp)
	}
	return cp, err
}

// TestRestoreRefuses: a source that lies, or a target that exists, fails
// the restore with the reason, and leaves no database behind (nor
// changes the existing file).
func TestRestoreRefuses(t *testing.T) {
	s := newSource(t)
	dir := pki(t)
	otherGenesis := readRaw(t, dir, "agreement.envelope")
	otherSigner, err := tlog.NewSigner(read(t, dir, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		src      func() restore.Source
		genesis  []byte
		signer   note.Signer
		existing string // the target's contents beforehand
		want     string
	}{
		{name: "a tampered entry", want: "does not verify: entry 3:", src: func() restore.Source {
			return lying{Server: restore.Server{C: s.c}, entry: func(i uint64, leaf []byte) []byte {
				if i == 3 {
					return retime(t, leaf)
				}
				return leaf
			}}
		}},
		{name: "a signed checkpoint of another tree", want: "checkpoint of size 6 (root 0000000000000000000000000000000000000000000000000000000000000000) is not consistent with the entries it served", src: func() restore.Source {
			// Signed by the log key (a fork, or a node that lies with a
			// stolen key): the entries served are not its tree.
			return lying{Server: restore.Server{C: s.c}, cp: func([]byte) []byte {
				cp, err := tlog.SignCheckpoint(s.signer, s.signer.Name(), s.size, make([]byte, 32))
				if err != nil {
					t.Fatal(err)
				}
				return cp
			}}
		}},
		{name: "a checkpoint the log key did not sign", want: "the source's latest checkpoint of size 5: tlog: invalid or missing log signature", src: func() restore.Source {
			return lying{Server: restore.Server{C: s.c}, cp: func(cp []byte) []byte {
				return []byte(strings.Replace(string(cp), "\n"+strconv.FormatUint(s.size, 10)+"\n", "\n"+strconv.FormatUint(s.size-1, 10)+"\n", 1))
			}}
		}},
		{name: "a listed checkpoint of another tree", want: "checkpoint of size 2 (root 0000000000000000000000000000000000000000000000000000000000000000) is not consistent with the entries it served", src: func() restore.Source {
			// A node that answers, for one of its checkpoints, with one
			// the log key signed over another tree.
			return lying{Server: restore.Server{C: s.c}, listed: func(page [][]byte) [][]byte {
				for i, cp := range page {
					if bytes.Contains(cp, []byte("\n2\n")) {
						if page[i], err = tlog.SignCheckpoint(s.signer, s.signer.Name(), 2, make([]byte, 32)); err != nil {
							t.Fatal(err)
						}
					}
				}
				return page
			}}
		}},
		{name: "a listed checkpoint the log key did not sign", want: "the source's checkpoint of size 3: tlog: invalid or missing log signature", src: func() restore.Source {
			return lying{Server: restore.Server{C: s.c}, listed: func(page [][]byte) [][]byte {
				for i, cp := range page {
					page[i] = bytes.Replace(cp, []byte("\n2\n"), []byte("\n3\n"), 1)
				}
				return page
			}}
		}},
		{name: "listed checkpoints out of order", want: "the source listed its checkpoint of size 5 after size 6, up to 6: out of order", src: func() restore.Source {
			return lying{Server: restore.Server{C: s.c}, listed: func(page [][]byte) [][]byte {
				slices.Reverse(page)
				return page
			}}
		}},
		{name: "another log's genesis", genesis: otherGenesis, want: "the source's latest checkpoint of size 6: tlog: invalid or missing log signature", src: func() restore.Source { return restore.Server{C: s.c} }},
		{name: "another log signing key", signer: otherSigner, want: "is not the key the agreement names", src: func() restore.Source { return restore.Server{C: s.c} }},
		{name: "an existing file", existing: "not a database", want: "exists and is not empty", src: func() restore.Source { return restore.Server{C: s.c} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "restored.db")
			if tc.existing != "" {
				if err := os.WriteFile(db, []byte(tc.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o := s.options(db, tc.src())
			if tc.genesis != nil {
				o.Genesis, o.Signer = tc.genesis, nil
			}
			if tc.signer != nil {
				o.Signer = tc.signer
			}
			_, err := restore.Run(ctxT(t), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v, want an error containing %q", err, tc.want)
			}
			if tc.existing != "" {
				if b, _ := os.ReadFile(db); string(b) != tc.existing || !errors.Is(err, restore.ErrExists) {
					t.Errorf("the existing file holds %q after a refused restore (%v)", b, err)
				}
			} else if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("a failed restore left %s behind (%v)", db, err)
			}
			if _, err := os.Stat(db + ".restoring"); !os.IsNotExist(err) {
				t.Errorf("a failed restore left its temporary file behind (%v)", err)
			}
		})
	}
}

func pki(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// retime re-encodes a leaf with its receive time a second later: its
// bytes, and its hash, change; it still decodes.
func retime(t *testing.T, leaf []byte) []byte {
	t.Helper()
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	out, err := entry.NewLeaf(e.Index, e.ReceivedAt.AsTime().Add(-time.Hour), e.Envelope, e.PeerCertificateSha256)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cutting is a source whose every stream ends Unavailable after n entries,
// as a server ends the stream of a reader that fell behind.
type cutting struct {
	restore.Server
	n int
}

func (c cutting) Entries(ctx context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	sent := 0
	err := c.Server.Entries(ctx, start, end, func(i uint64, leaf []byte) error {
		if sent == c.n {
			return errCut
		}
		sent++
		return fn(i, leaf)
	})
	if errors.Is(err, errCut) {
		return status.Error(codes.Unavailable, "entries: the client took no message for 30s and fell behind; resume from "+strconv.FormatUint(start+uint64(sent), 10))
	}
	return err
}

var errCut = errors.New("cut")

// TestRestoreResumes: streams that end Unavailable are resumed from the
// next entry as long as each brings entries; one that brings none fails
// the restore.
func TestRestoreResumes(t *testing.T) {
	s := newSource(t)
	db := filepath.Join(t.TempDir(), "restored.db")
	rep, err := restore.Run(ctxT(t), s.options(db, cutting{restore.Server{C: s.c}, 2}))
	if err != nil || rep.Size != s.size {
		t.Fatalf("restore over streams of 2 entries: %v, %v", rep, err)
	}
	db = filepath.Join(t.TempDir(), "restored.db")
	if _, err := restore.Run(ctxT(t), s.options(db, cutting{restore.Server{C: s.c}, 0})); status.Code(err) != codes.Unavailable {
		t.Fatalf("restore over streams that bring nothing: %v, want Unavailable", err)
	}
}
