package service_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Read scoping: a party that is not on a package cannot show it, nor see
// it in list or breaches. The dev agreement puts every party on every
// package, so an amendment adds a second responder, "ir" (its CA, for
// the test, is af's CA listed again), and pk addresses one package to
// each responder.
func TestReadScopedToPackageParties(t *testing.T) {
	f := newFixture(t)
	if err := devpki.Issue(f.env.Certs, "ir-interior", "ir", devpki.IssueOptions{CAParty: "af"}); err != nil {
		t.Fatal(err)
	}
	genesis, err := os.ReadFile(filepath.Join(f.env.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	env := &mvmv1.Envelope{}
	if err := proto.Unmarshal(genesis, env); err != nil {
		t.Fatal(err)
	}
	amendment := &mvmv1.Agreement{}
	if err := proto.Unmarshal(env.Payload, amendment); err != nil {
		t.Fatal(err)
	}
	amendment.Header = mvmclient.NewHeader()
	amendment.AmendsIndex = 0
	amendment.Parties = append(amendment.Parties, &mvmv1.Party{Id: "ir", Name: "Iran", Role: mvmv1.Role_ROLE_RESPONDER,
		CaCertificates: amendment.Parties[1].CaCertificates})
	ir := f.env.Client("ir-interior")
	var signers []envelope.Signer
	for _, c := range []*mvmclient.Client{f.pk(), f.af(), f.tr(), f.clients[testenv.Mediator2], ir} {
		s := c.Signer()
		s.EmbedCertificate = true
		signers = append(signers, s)
	}
	sealed, err := envelope.Seal(amendment, signers...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.af().AppendSealed(ctxT(t), sealed); err != nil {
		t.Fatalf("amendment adding ir: %v", err)
	}

	pkgFor := map[string]string{} // responder -> package id
	for _, responder := range []string{"af", "ir"} {
		tp := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Responder: responder,
			Locations: []*mvmv1.Location{{Lat: 34, Lon: 71}}, Summary: "for " + responder}
		if _, err := f.pk().Append(ctxT(t), tp); err != nil {
			t.Fatalf("package for %s: %v", responder, err)
		}
		pkgFor[responder] = tp.Header.MessageId
	}
	// Both packages are a year past their acknowledgement deadline.
	asOf := timestamppb.New(time.Now().Add(365 * 24 * time.Hour))

	for _, tt := range []struct {
		who       string
		c         *mvmclient.Client
		sees, not []string
	}{
		{"af", f.af(), []string{pkgFor["af"]}, []string{pkgFor["ir"]}},
		{"ir", ir, []string{pkgFor["ir"]}, []string{pkgFor["af"]}},
		{"pk (submitter of both)", f.pk(), []string{pkgFor["af"], pkgFor["ir"]}, nil},
		{"tr (mediator)", f.tr(), []string{pkgFor["af"], pkgFor["ir"]}, nil},
	} {
		t.Run(tt.who, func(t *testing.T) {
			for _, id := range tt.sees {
				if _, err := tt.c.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id}); err != nil {
					t.Errorf("show %s: %v", id, err)
				}
			}
			for _, id := range tt.not {
				_, err := tt.c.API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
				wantUnseen(t, tt.c, id, err) // as if it did not exist
				// Nor does an append to it tell that it exists.
				const none = "0123456789abcdef01234567"
				_, errNone := tt.c.Append(ctxT(t), ack(none))
				_, err = tt.c.Append(ctxT(t), ack(id))
				if status.Code(err) != codes.NotFound || status.Code(errNone) != codes.NotFound {
					t.Fatalf("ack of another's package: %v; of none: %v; want NotFound for both", err, errNone)
				}
				if got, want := strings.ReplaceAll(status.Convert(err).Message(), id, none), status.Convert(errNone).Message(); got != want {
					t.Errorf("ack of another's package answers %q; of none %q", got, want)
				}
			}
			list, err := tt.c.API.ListPackages(ctxT(t), &mvmv1.ListPackagesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, p := range list.Packages {
				listed = append(listed, p.PackageId)
			}
			br, err := tt.c.API.GetBreaches(ctxT(t), &mvmv1.GetBreachesRequest{AsOf: asOf})
			if err != nil {
				t.Fatal(err)
			}
			var breached []string
			for _, b := range br.Breaches {
				breached = append(breached, b.PackageId)
			}
			for _, id := range tt.sees {
				if !slices.Contains(listed, id) || !slices.Contains(breached, id) {
					t.Errorf("package %s: listed %v, in breaches %v; want both", id, slices.Contains(listed, id), slices.Contains(breached, id))
				}
			}
			for _, id := range tt.not {
				if slices.Contains(listed, id) || slices.Contains(breached, id) {
					t.Errorf("package %s of another party: listed %v, in breaches %v; want neither", id, slices.Contains(listed, id), slices.Contains(breached, id))
				}
			}
		})
	}
}
