package agreement_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestParseCosignerKeys: cosigner keys must parse, belong to mediators,
// and have names unique across parties (cosignatures are stored and
// counted by key name).
func TestParseCosignerKeys(t *testing.T) {
	k := newPKI(t)
	party := func(p *mvmv1.Agreement, id string) *mvmv1.Party {
		for _, pp := range p.Parties {
			if pp.Id == id {
				return pp
			}
		}
		t.Fatalf("no party %s", id)
		return nil
	}
	for _, tc := range []struct {
		name string
		edit func(p *mvmv1.Agreement)
		want string // "" = accepted
	}{
		{"dev agreement", func(p *mvmv1.Agreement) {}, ""},
		{"unparseable key", func(p *mvmv1.Agreement) { party(p, "tr").CosignerKeys = []string{"not a key"} }, "party \"tr\" cosigner key 0"},
		{"submitter with a key", func(p *mvmv1.Agreement) {
			party(p, "pk").CosignerKeys = party(p, "tr").CosignerKeys
		}, "is not a mediator but lists cosigner keys"},
		{"one key name for two parties", func(p *mvmv1.Agreement) {
			party(p, "qa").CosignerKeys = party(p, "tr").CosignerKeys
		}, "is used by parties"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proto.Clone(k.proto).(*mvmv1.Agreement)
			tc.edit(p)
			_, err := agreement.Parse(p, 0)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tc.want != "" && (err == nil || !errors.Is(err, agreement.ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}
