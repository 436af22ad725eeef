package bench

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Wrote recognises bench's packages by both marks, and nothing else.
func TestWrote(t *testing.T) {
	other := Package(512)
	other.Header = mvmclient.NewHeader()
	noGroup := Package(512)
	noGroup.SuspectedGroup = ""
	for _, tc := range []struct {
		name string
		m    proto.Message
		want bool
	}{
		{"bench's package", Package(512), true},
		{"another id", other, false},
		{"another group", noGroup, false},
		// --mix: the responder's messages on bench's packages are bench's.
		{"bench's acknowledgement", &mvmv1.Acknowledgement{Header: Package(0).Header, PackageId: Package(0).Header.MessageId}, true},
		{"an acknowledgement of another id", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: Package(0).Header.MessageId}, false},
		{"an acknowledgement of another package", &mvmv1.Acknowledgement{Header: Package(0).Header, PackageId: "pkg-1"}, false},
		{"a withdrawal", &mvmv1.Withdrawal{Header: Package(0).Header, PackageId: Package(0).Header.MessageId}, false},
		{"a sealed package", sealedHeader(), true},
		{"a sealed package of another id", func() *mvmv1.TargetPackage { p := sealedHeader(); p.Header = mvmclient.NewHeader(); return p }(), false},
	} {
		if got := Wrote(tc.m); got != tc.want {
			t.Errorf("%s: Wrote = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The payload is the size asked for (the bench reports it as such).
func TestPackageSize(t *testing.T) {
	for _, n := range []int{256, 512, 1024} {
		b, err := proto.Marshal(Package(n))
		if err != nil {
			t.Fatal(err)
		}
		if d := len(b) - n; d < -4 || d > 4 {
			t.Errorf("Package(%d) serializes to %d bytes", n, len(b))
		}
	}
}

// sealedHeader is the cleartext header of a sealed bench package: its
// group is sealed, its id shows.
func sealedHeader() *mvmv1.TargetPackage {
	p := Package(512)
	p.SuspectedGroup, p.Summary, p.Locations = "", "", nil
	p.SealedBody = make([]byte, 40)
	return p
}
