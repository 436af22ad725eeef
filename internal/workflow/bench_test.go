package workflow_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func benchAgreement(b *testing.B) *agreement.Agreement {
	dir := b.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		b.Fatal(err)
	}
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		b.Fatal(err)
	}
	return ag
}

// BenchmarkApply: one package through submit, acknowledge and report, per
// iteration (three reducer steps).
func BenchmarkApply(b *testing.B) {
	ag := benchAgreement(b)
	pk := identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-liaison"}
	af := identity.Identity{TrustDomain: "mvm.example", Party: "af", Name: "af-interior"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(id string) *mvmv1.Header { return &mvmv1.Header{MessageId: id} }
	tp := &mvmv1.TargetPackage{Header: h("p1"), Locations: []*mvmv1.Location{{Lat: 1, Lon: 2}}}
	ack := &mvmv1.Acknowledgement{Header: h("a1"), PackageId: "p1"}
	rep := &mvmv1.ActionReport{Header: h("r1"), PackageId: "p1", Outcome: mvmv1.Outcome_OUTCOME_RAID_CONDUCTED}
	for b.Loop() {
		p, err := workflow.Apply(ag, nil, workflow.Input{Index: 1, ReceivedAt: t0, Author: pk, Payload: tp})
		if err == nil {
			p, err = workflow.Apply(ag, p, workflow.Input{Index: 2, ReceivedAt: t0, Author: af, Payload: ack})
		}
		if err == nil {
			_, err = workflow.Apply(ag, p, workflow.Input{Index: 3, ReceivedAt: t0, Author: af, Payload: rep})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
