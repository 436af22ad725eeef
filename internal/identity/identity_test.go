package identity_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
)

// certWithURIs issues a real (self-signed, DER round-tripped) certificate
// carrying the given URI SANs.
func certWithURIs(t *testing.T, key ed25519.PrivateKey, uris ...string) *x509.Certificate {
	t.Helper()
	var us []*url.URL
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", s, err)
		}
		us = append(us, u)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "identity test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		URIs:         us,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create certificate with %q: %v", uris, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate with %q: %v", uris, err)
	}
	return cert
}

func TestParse(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-liaison"}
	tests := []struct {
		name string
		uris []string
		want identity.Identity // zero = expect ErrBadIdentity
	}{
		{"good", []string{"spiffe://mvm.example/party/pk/pk-liaison"}, good},
		{"good, digits, dots and underscores", []string{"spiffe://mvm-2.example.org/party/q1/a.b_c-9"},
			identity.Identity{TrustDomain: "mvm-2.example.org", Party: "q1", Name: "a.b_c-9"}},
		{"name of 63 characters", []string{"spiffe://mvm.example/party/pk/" + strings.Repeat("n", 63)},
			identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: strings.Repeat("n", 63)}},

		{"two URIs", []string{"spiffe://mvm.example/party/pk/pk-liaison", "spiffe://mvm.example/party/pk/other"}, identity.Identity{}},
		{"two identical URIs", []string{"spiffe://mvm.example/party/pk/pk-liaison", "spiffe://mvm.example/party/pk/pk-liaison"}, identity.Identity{}},
		{"no URI", nil, identity.Identity{}},
		{"http scheme", []string{"http://mvm.example/party/pk/pk-liaison"}, identity.Identity{}},
		{"https scheme", []string{"https://mvm.example/party/pk/pk-liaison"}, identity.Identity{}},
		{"wrong path prefix", []string{"spiffe://mvm.example/parties/pk/pk-liaison"}, identity.Identity{}},
		{"missing name", []string{"spiffe://mvm.example/party/pk"}, identity.Identity{}},
		{"empty name", []string{"spiffe://mvm.example/party/pk/"}, identity.Identity{}},
		{"empty party", []string{"spiffe://mvm.example/party//pk-liaison"}, identity.Identity{}},
		{"uppercase party", []string{"spiffe://mvm.example/party/PK/pk-liaison"}, identity.Identity{}},
		{"uppercase name", []string{"spiffe://mvm.example/party/pk/PK-Liaison"}, identity.Identity{}},
		{"uppercase trust domain", []string{"spiffe://MVM.example/party/pk/pk-liaison"}, identity.Identity{}},
		{"extra segment", []string{"spiffe://mvm.example/party/pk/pk-liaison/extra"}, identity.Identity{}},
		{"trailing slash", []string{"spiffe://mvm.example/party/pk/pk-liaison/"}, identity.Identity{}},
		{"dot-dot name", []string{"spiffe://mvm.example/party/pk/.."}, identity.Identity{}},
		{"name starting with a dash", []string{"spiffe://mvm.example/party/pk/-x"}, identity.Identity{}},
		{"name of 64 characters", []string{"spiffe://mvm.example/party/pk/" + strings.Repeat("n", 64)}, identity.Identity{}},
		{"port", []string{"spiffe://mvm.example:8443/party/pk/pk-liaison"}, identity.Identity{}},
		{"query", []string{"spiffe://mvm.example/party/pk/pk-liaison?role=admin"}, identity.Identity{}},
		{"fragment", []string{"spiffe://mvm.example/party/pk/pk-liaison#x"}, identity.Identity{}},
		{"user info", []string{"spiffe://af@mvm.example/party/pk/pk-liaison"}, identity.Identity{}},
		{"no trust domain", []string{"spiffe:///party/pk/pk-liaison"}, identity.Identity{}},
		{"opaque URI", []string{"spiffe:mvm.example/party/pk/pk-liaison"}, identity.Identity{}},
		// The SPIFFE ID specification forbids percent-encoding in the path;
		// "p%6B" must not be read as party "pk".
		{"percent-encoded party", []string{"spiffe://mvm.example/party/p%6B/pk-liaison"}, identity.Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := certWithURIs(t, key, tt.uris...)
			got, err := identity.Parse(cert)
			if tt.want == (identity.Identity{}) {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want ErrBadIdentity", tt.uris, got)
				}
				if !errors.Is(err, identity.ErrBadIdentity) {
					t.Errorf("Parse(%q): got %v, want errors.Is(err, ErrBadIdentity)", tt.uris, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): got %v, want %+v", tt.uris, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("Parse(%q): got %+v, want %+v", tt.uris, got, tt.want)
			}
			if u := got.URI(); u != tt.uris[0] {
				t.Errorf("URI(): got %v, want %v", u, tt.uris[0])
			}
		})
	}
}

func TestParseNil(t *testing.T) {
	if _, err := identity.Parse(nil); !errors.Is(err, identity.ErrBadIdentity) {
		t.Errorf("Parse(nil): got %v, want %v", err, identity.ErrBadIdentity)
	}
}

func TestURIAndString(t *testing.T) {
	id := identity.Identity{TrustDomain: "mvm.example", Party: "af", Name: "af-interior"}
	if got, want := id.URI(), "spiffe://mvm.example/party/af/af-interior"; got != want {
		t.Errorf("URI() = %v, want %v", got, want)
	}
	if got, want := id.String(), "af/af-interior"; got != want {
		t.Errorf("String() = %v, want %v", got, want)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"pk", true},
		{"a", true},
		{"0", true},
		{"pk-liaison", true},
		{"a.b_c-d", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"PK", false},
		{"-pk", false},
		{".pk", false},
		{"_pk", false},
		{"p k", false},
		{"p/k", false},
		{"pk\n", false},
		{"pkü", false},
	}
	for _, tt := range tests {
		if got := identity.ValidName(tt.s); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
