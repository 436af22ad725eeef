package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// runCLI runs the command line as identity as against server addr with
// the PKI in certs, the way the client binary does.
func runCLI(t *testing.T, addr, certs, as string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--server", addr, "--certs", certs, "--as", as, "--timeout", "30s"}, args...)
	code = Run(full, &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI is runCLI expecting success.
func mustCLI(t *testing.T, addr, certs, as string, args ...string) string {
	t.Helper()
	out, errs, code := runCLI(t, addr, certs, as, args...)
	if code != ExitOK {
		t.Fatalf("client --as %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", as, strings.Join(args, " "), code, out, errs)
	}
	return out + errs
}

var allIdentities = []string{testenv.Submitter, testenv.Responder, testenv.Mediator, testenv.Mediator2}

// genesisProto reads the pinned genesis agreement of a PKI.
func genesisProto(t *testing.T, certs string) *mvmv1.Agreement {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := &mvmv1.Agreement{}
	if err := proto.Unmarshal(env.Payload, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// sealBy signs p with the named identities of the exchange.
func sealBy(t *testing.T, e *testenv.Env, p *mvmv1.Agreement, names ...string) []byte {
	t.Helper()
	var signers []envelope.Signer
	for _, n := range names {
		s := e.Client(n).Signer()
		s.EmbedCertificate = true
		signers = append(signers, s)
	}
	b, err := envelope.Seal(p, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func partyIn(t *testing.T, p *mvmv1.Agreement, id string) *mvmv1.Party {
	t.Helper()
	for _, pp := range p.Parties {
		if pp.Id == id {
			return pp
		}
	}
	t.Fatalf("no party %s", id)
	return nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// amend appends an amendment of the agreement at index amends, edited by
// edit and signed by every party.
func amend(t *testing.T, e *testenv.Env, amends uint64, edit func(p *mvmv1.Agreement)) uint64 {
	t.Helper()
	p := genesisProto(t, e.Certs)
	p.Header = mvmclient.NewHeader()
	p.AmendsIndex = amends
	edit(p)
	resp, err := e.Client(testenv.Submitter).AppendSealed(ctxT(t), sealBy(t, e, p, allIdentities...))
	if err != nil {
		t.Fatalf("amendment: %v", err)
	}
	return resp.Receipt.Index
}
