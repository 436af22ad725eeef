package mvmclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// lockedBuffer collects the server's log lines from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// Distinctive sensitive values: none may appear anywhere the operator can
// look.
const (
	secretLat     = 34.0151717
	secretLon     = 71.5249393
	secretSummary = "SEALED-SUMMARY-c0ffee"
	secretPlace   = "SEALED-PLACE-beef"
	secretGroup   = "SEALED-GROUP-f00d"
	secretNote    = "SEALED-NOTE-abad1dea"
	secretReason  = "SEALED-REASON-5eed"
)

func secrets() [][]byte {
	out := [][]byte{[]byte(secretSummary), []byte(secretPlace), []byte(secretGroup), []byte(secretNote), []byte(secretReason)}
	for _, f := range []float64{secretLat, secretLon} {
		out = append(out, binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)), []byte(strconv.FormatFloat(f, 'f', -1, 64)))
	}
	return out
}

func assertNoSecret(t *testing.T, where string, b []byte) {
	t.Helper()
	if len(b) == 0 {
		t.Fatalf("%s is empty: nothing was checked", where)
	}
	for _, s := range secrets() {
		if bytes.Contains(b, s) {
			t.Errorf("%s holds the sensitive value %q in plaintext", where, s)
		}
	}
}

// TestSealedExchange runs a sealed exchange over real mutual TLS: the
// server refuses plaintext under a sealing agreement and accepts sealed
// messages, every recipient opens them, and neither the bbolt file, a
// backup, the receipts, the server's debug log nor /metrics hold any
// sensitive value.
func TestSealedExchange(t *testing.T) {
	logs := &lockedBuffer{}
	env := testenv.NewPKI(t, devpki.Options{SealedBodies: true}, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Metrics = "127.0.0.1:0"
		c.Operators = []string{"spiffe://mvm.example/party/tr/tr-verifier"}
	})
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(env.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil || !ag.SealedBodies {
		t.Fatalf("dev agreement: sealed %v, %v", ag != nil && ag.SealedBodies, err)
	}
	keyring := func(party string) *message.Keyring {
		kr, err := mvmclient.LoadKeyring(party, filepath.Join(env.Certs, devpki.SealKeyFile(party)))
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	pk, af, tr := env.Client(testenv.Submitter), env.Client(testenv.Responder), env.Client(testenv.Mediator)
	var receipts [][]byte
	mustAppend := func(c *mvmclient.Client, m proto.Message) {
		t.Helper()
		resp, err := c.Append(ctx, m)
		if err != nil {
			t.Fatalf("append %s: %v", message.TypeOf(m), err)
		}
		receipts = append(receipts, resp.Receipt.TlogProof)
	}
	refused := func(c *mvmclient.Client, m proto.Message, why string) {
		t.Helper()
		if _, err := c.Append(ctx, m); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s: got %v, want InvalidArgument", why, err)
		}
	}

	tp := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
		Locations:      []*mvmv1.Location{{Lat: secretLat, Lon: secretLon, PrecisionM: 30, Description: secretPlace}},
		SuspectedGroup: secretGroup, Summary: secretSummary, Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_RED}
	id := tp.Header.MessageId
	refused(pk, tp, "a plaintext package under a sealing agreement")

	to, err := mvmclient.Recipients(ag)
	if err != nil {
		t.Fatal(err)
	}
	sealedTP, err := mvmclient.SealOutgoing(ag, keyring("pk"), nil, to, tp)
	if err != nil {
		t.Fatal(err)
	}
	leaky := proto.Clone(sealedTP).(*mvmv1.TargetPackage)
	leaky.Summary = secretSummary
	refused(pk, leaky, "a sealed package showing its summary")
	mustAppend(pk, sealedTP)

	// The responder takes the package key from the logged package.
	resp, err := af.Package(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	target := decodeLeaf(t, resp.Leaves[0]).(*mvmv1.TargetPackage)
	ack := &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id, Note: secretNote}
	refused(af, ack, "a plaintext acknowledgement of a sealed package")
	sealedAck, err := mvmclient.SealOutgoing(ag, keyring("af"), target, nil, ack)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(af, sealedAck)
	report := &mvmv1.ActionReport{Header: mvmclient.NewHeader(), PackageId: id, Outcome: mvmv1.Outcome_OUTCOME_DECLINED, Note: secretReason}
	sealedReport, err := mvmclient.SealOutgoing(ag, keyring("af"), target, nil, report)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(af, sealedReport)

	// Every recipient opens every entry back to what its author wrote.
	resp, err = tr.Package(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []proto.Message{tp, ack, report}
	if len(resp.Leaves) != len(want) {
		t.Fatalf("package has %d entries, want %d", len(resp.Leaves), len(want))
	}
	for _, party := range []string{"pk", "af", "tr", "qa"} {
		key, err := keyring(party).PackageKey(ag.LogOrigin, target)
		if err != nil {
			t.Fatalf("party %s: %v", party, err)
		}
		for i, leaf := range resp.Leaves {
			en, err := entry.DecodeLeaf(leaf)
			if err != nil {
				t.Fatal(err)
			}
			e, err := envelope.Parse(en.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			full, err := message.Open(ag.LogOrigin, key, e.PayloadType, e.Payload)
			if err != nil {
				t.Fatalf("party %s, entry %d: %v", party, en.Index, err)
			}
			if !proto.Equal(full, want[i]) {
				t.Fatalf("party %s opened entry %d as\n%v\nwant\n%v", party, en.Index, full, want[i])
			}
		}
	}

	var backup bytes.Buffer
	if _, err := tr.Backup(ctx, &backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	hr, err := http.Get("http://" + env.Server.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, err := io.ReadAll(hr.Body)
	hr.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	env.Stop()
	db, err := os.ReadFile(env.DB)
	if err != nil {
		t.Fatal(err)
	}
	// The check itself must be able to fail: the package id is in the
	// clear and must be found.
	if !bytes.Contains(db, []byte(id)) {
		t.Fatal("the bbolt file does not hold the package id: the grep checks nothing")
	}
	assertNoSecret(t, "the bbolt file", db)
	assertNoSecret(t, "a backup", backup.Bytes())
	// A receipt carries its leaf base64 on its "extra" line: decode it.
	var leaves []byte
	for _, r := range receipts {
		for _, line := range strings.Split(string(r), "\n") {
			if b64, ok := strings.CutPrefix(line, "extra "); ok {
				leaf, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					t.Fatalf("receipt extra line: %v", err)
				}
				leaves = append(leaves, leaf...)
			}
		}
	}
	if !bytes.Contains(leaves, []byte(id)) {
		t.Fatal("the receipts' leaves do not hold the package id: the grep checks nothing")
	}
	assertNoSecret(t, "the receipts' leaves", leaves)
	assertNoSecret(t, "the server's debug log", logs.Bytes())
	assertNoSecret(t, "/metrics", metricsText)
}

func decodeLeaf(t *testing.T, leaf []byte) proto.Message {
	t.Helper()
	en, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	e, err := envelope.Parse(en.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Decode(e.PayloadType, e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
