package service_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// rawConn dials the server with the identity dir/name without going
// through mvmclient (which refuses to load certificates without exactly one
// URI SAN), trusting the server CA of the fixture. An empty name dials with
// no client certificate at all. opts are further dial options.
func rawConn(t *testing.T, f *fixture, dir, name string, opts ...grpc.DialOption) (*grpc.ClientConn, envelope.Signer) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(f.env.Certs, "ca-server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("server CA: no certificate")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	var signer envelope.Signer
	if name != "" {
		pair, err := devpki.LoadKeyPair(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
		signer = envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	}
	conn, err := grpc.NewClient(f.env.Addr, append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, signer
}

// ---------------------------------------------------------------------------
// 3. Certificates.

func TestClientCertificates(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.Metrics = "127.0.0.1:0" })
	foreign := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: foreign}); err != nil {
		t.Fatalf("foreign PKI: %v", err)
	}
	now := time.Now()
	issue := func(name, party string, o devpki.IssueOptions) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			if err := devpki.Issue(f.env.Certs, name, party, o); err != nil {
				t.Fatalf("issue %s: %v", name, err)
			}
		}
	}
	// The TLS alert each refusal sends: crypto/tls checks expiry and the
	// issuer (any party's CA) first, the service the rest.
	alerts := map[string]string{
		"foreign CA":                             "tls: unknown certificate authority",
		"cross-party (af identity from pk's CA)": "tls: bad certificate",
		"expired":                                "tls: expired certificate",
		"not yet valid":                          "tls: expired certificate",
		"no URI SAN":                             "tls: bad certificate",
		"two URI SANs":                           "tls: bad certificate",
		"other trust domain":                     "tls: bad certificate",
		"party not in the agreement":             "tls: bad certificate",
		"no client certificate":                  "tls: certificate required",
		// The handshake names the acceptable CAs; the client has no
		// certificate from one of them, so it sends none.
		"the server's own certificate": "tls: certificate required",
		"revoked":                      "tls: bad certificate",
	}
	// The reason each refusal is counted under (mvm_handshakes_refused_total).
	reasons := map[string]string{
		"foreign CA":                             "unknown_authority",
		"cross-party (af identity from pk's CA)": "not_authorized",
		"expired":                                "expired",
		"not yet valid":                          "expired", // crypto/x509: "expired or is not yet valid"
		"no URI SAN":                             "not_authorized",
		"two URI SANs":                           "not_authorized",
		"other trust domain":                     "not_authorized",
		"party not in the agreement":             "not_authorized",
		"no client certificate":                  "no_certificate",
		"the server's own certificate":           "no_certificate",
		"revoked":                                "revoked",
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) // issues the identity, if needed
		dir   string
		ident string
		ok    bool
	}{
		// Control: an extra identity issued by the party's own CA works, so
		// the refusals below are about the certificate, not the dialing.
		{"valid extra identity", issue("pk-second", "pk", devpki.IssueOptions{}), "", "pk-second", true},
		{"foreign CA", nil, foreign, testenv.Submitter, false},
		{"cross-party (af identity from pk's CA)", issue("evil", "af", devpki.IssueOptions{CAParty: "pk"}), "", "evil", false},
		{"expired", issue("pk-expired", "pk", devpki.IssueOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}), "", "pk-expired", false},
		{"not yet valid", issue("pk-future", "pk", devpki.IssueOptions{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}), "", "pk-future", false},
		{"no URI SAN", issue("pk-nouri", "pk", devpki.IssueOptions{URIs: []string{}}), "", "pk-nouri", false},
		{"two URI SANs", issue("pk-twouri", "pk", devpki.IssueOptions{URIs: []string{
			"spiffe://mvm.example/party/pk/pk-twouri", "spiffe://mvm.example/party/pk/other"}}), "", "pk-twouri", false},
		{"other trust domain", issue("pk-otherdomain", "pk", devpki.IssueOptions{URIs: []string{
			"spiffe://evil.example/party/pk/pk-otherdomain"}}), "", "pk-otherdomain", false},
		{"party not in the agreement", issue("zz-agent", "zz", devpki.IssueOptions{CAParty: "pk"}), "", "zz-agent", false},
		{"no client certificate", nil, "", "", false},
		{"the server's own certificate", nil, "", "server", false},
		{"revoked", func(t *testing.T) {
			issue("pk-revoked", "pk", devpki.IssueOptions{})(t)
			if err := devpki.Revoke(f.env.Certs, "pk-revoked", time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := f.env.Server.Reload(); err != nil {
				t.Fatal(err)
			}
		}, "", "pk-revoked", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			dir := tc.dir
			if dir == "" {
				dir = f.env.Certs
			}
			conn, signer := rawConn(t, f, dir, tc.ident)
			api := mvmv1.NewExchangeServiceClient(conn)
			before := f.size(t)
			metrics := f.env.Server.MetricsAddr()
			refusals := metric(scrape(t, metrics), "mvm_handshakes_refused_total", "", "reason", reasons[tc.name])

			_, readErr := api.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
			var appendErr error
			if signer.Key != nil {
				sealed, err := envelope.Seal(targetPackage(), signer)
				if err != nil {
					t.Fatalf("seal: %v", err)
				}
				_, appendErr = api.Append(ctxT(t), &mvmv1.AppendRequest{Envelope: sealed})
			} else {
				sealed, err := f.pk().Seal(targetPackage())
				if err != nil {
					t.Fatal(err)
				}
				_, appendErr = api.Append(ctxT(t), &mvmv1.AppendRequest{Envelope: sealed})
			}
			_, healthErr := healthpb.NewHealthClient(conn).Check(ctxT(t), &healthpb.HealthCheckRequest{})
			if tc.ok {
				if readErr != nil || appendErr != nil || healthErr != nil {
					t.Fatalf("calls: got (%v, %v, %v), want all OK", readErr, appendErr, healthErr)
				}
				f.wantSize(t, before+1)
				return
			}
			waitFor(t, metrics, refusals+1, true, "mvm_handshakes_refused_total", "reason", reasons[tc.name])
			for what, err := range map[string]error{"GetCheckpoint": readErr, "Append": appendErr, "Health.Check": healthErr} {
				// The handshake fails, so the call never reaches a handler.
				if code := status.Code(err); code != codes.Unavailable && code != codes.Unauthenticated {
					t.Errorf("%s code: got %v (%v), want Unavailable or Unauthenticated", what, code, err)
				}
				// The TLS alert is the reason the client gets.
				if want := alerts[tc.name]; !strings.Contains(status.Convert(err).Message(), want) {
					t.Errorf("%s: got %v, want the reason %q", what, err, want)
				}
			}
			f.wantSize(t, before)
		})
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t)
	hc := healthpb.NewHealthClient(f.pk().Conn())
	for _, tc := range []struct {
		service string
		code    codes.Code
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{"", codes.OK, healthpb.HealthCheckResponse_SERVING},
		{mvmv1.ExchangeService_ServiceDesc.ServiceName, codes.OK, healthpb.HealthCheckResponse_SERVING},
		{"no.such.Service", codes.NotFound, healthpb.HealthCheckResponse_SERVICE_UNKNOWN},
	} {
		t.Run("service="+tc.service, func(t *testing.T) {
			resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: tc.service})
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code: got %v (%v), want %v", got, err, tc.code)
			}
			if got := resp.GetStatus(); err == nil && got != tc.want {
				t.Errorf("status: got %v, want %v", got, tc.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 4. The signer must be the authenticated peer.

// selfSigned returns a fresh Ed25519 key with a self-signed certificate.
func selfSigned(t *testing.T) envelope.Signer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mallory"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Signer{Key: key, Certificate: cert}
}

// editEnvelope decodes a sealed envelope, applies edit and re-encodes it.
func editEnvelope(t *testing.T, sealed []byte, edit func(*mvmv1.Envelope)) []byte {
	t.Helper()
	env := &mvmv1.Envelope{}
	if err := proto.Unmarshal(sealed, env); err != nil {
		t.Fatal(err)
	}
	edit(env)
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignerIsPeer(t *testing.T) {
	f := newFixture(t)
	pk, af := f.pk(), f.af()
	fresh := selfSigned(t)
	for _, tc := range []struct {
		name  string
		via   string // connection the envelope is sent on
		build func(t *testing.T) []byte
		code  codes.Code
	}{
		{"signed by af-interior, sent as pk-liaison", testenv.Submitter, func(t *testing.T) []byte {
			b, err := envelope.Seal(targetPackage(), af.Signer())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, codes.PermissionDenied},
		{"signed by af-interior with its certificate embedded, sent as pk-liaison", testenv.Submitter, func(t *testing.T) []byte {
			s := af.Signer()
			s.EmbedCertificate = true
			b, err := envelope.Seal(targetPackage(), s)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, codes.PermissionDenied},
		{"pk-liaison's package replayed by af-interior", testenv.Responder, func(t *testing.T) []byte {
			b, err := pk.Seal(targetPackage())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, codes.PermissionDenied},
		{"fresh key and certificate, sent as pk-liaison", testenv.Submitter, func(t *testing.T) []byte {
			b, err := envelope.Seal(targetPackage(), fresh)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, codes.PermissionDenied},
		{"pk-liaison's key under af-interior's keyid", testenv.Submitter, func(t *testing.T) []byte {
			b, err := pk.Seal(targetPackage())
			if err != nil {
				t.Fatal(err)
			}
			return editEnvelope(t, b, func(e *mvmv1.Envelope) {
				e.Signatures[0].Keyid = envelope.Fingerprint(af.Signer().Certificate.Raw)
			})
		}, codes.PermissionDenied},
		{"pk-liaison's key under af-interior's keyid and embedded certificate", testenv.Submitter, func(t *testing.T) []byte {
			b, err := pk.Seal(targetPackage())
			if err != nil {
				t.Fatal(err)
			}
			return editEnvelope(t, b, func(e *mvmv1.Envelope) {
				e.Signatures[0].Keyid = envelope.Fingerprint(af.Signer().Certificate.Raw)
				e.Signatures[0].Certificate = af.Signer().Certificate.Raw
			})
		}, codes.PermissionDenied},
		// A foreign key under the peer's own keyid is a signature that does
		// not verify: indistinguishable from a tampered payload.
		{"fresh key under pk-liaison's keyid", testenv.Submitter, func(t *testing.T) []byte {
			b, err := envelope.Seal(targetPackage(), envelope.Signer{Key: fresh.Key, Certificate: pk.Signer().Certificate})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, codes.InvalidArgument},
		{"signed by pk-liaison and af-interior", testenv.Submitter, func(t *testing.T) []byte {
			b, err := envelope.Seal(targetPackage(), pk.Signer(), af.Signer())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := tc.build(t)
			before := f.size(t)
			_, err := f.clients[tc.via].AppendSealed(ctxT(t), sealed)
			wantCode(t, err, tc.code)
			f.wantSize(t, before)
		})
	}
}

// issueECDSA writes dir/name.crt/.key: an ECDSA identity of party pk issued
// by dir/ca-pk, for the key types the envelope layer must accept or refuse.
func issueECDSA(t *testing.T, dir, name string, curve elliptic.Curve) {
	t.Helper()
	ca, err := devpki.LoadKeyPair(dir, "ca-pk")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("spiffe://mvm.example/party/pk/" + name)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		URIs:         []*url.URL{u},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", "CERTIFICATE", der)
	write(name+".key", "PRIVATE KEY", pkcs8)
}

func TestKeyTypes(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		curve elliptic.Curve
		code  codes.Code
	}{
		{"ECDSA P-256", elliptic.P256(), codes.OK},
		{"ECDSA P-384", elliptic.P384(), codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "pk-" + strings.ToLower(strings.ReplaceAll(tc.name, " ", "-"))
			issueECDSA(t, f.env.Certs, name, tc.curve)
			conn, signer := rawConn(t, f, f.env.Certs, name)
			tp := targetPackage()
			payload, err := proto.Marshal(tp)
			if err != nil {
				t.Fatal(err)
			}
			typ := envelope.TypeOf(tp)
			sig, err := envelope.Sign(typ, payload, signer)
			if tc.curve != elliptic.P256() {
				// envelope.Sign refuses other curves: sign by hand (SHA-256
				// over PAE, as for P-256) so that the server decides.
				if err == nil {
					t.Fatalf("envelope.Sign with %s: got nil error, want ErrUnsupportedKey", tc.name)
				}
				digest := sha256.Sum256(envelope.PAE(typ, payload))
				raw, err := ecdsa.SignASN1(rand.Reader, signer.Key.(*ecdsa.PrivateKey), digest[:])
				if err != nil {
					t.Fatal(err)
				}
				sig = &mvmv1.Signature{Keyid: envelope.Fingerprint(signer.Certificate.Raw), Sig: raw}
			} else if err != nil {
				t.Fatal(err)
			}
			sealed, err := proto.Marshal(&mvmv1.Envelope{PayloadType: typ, Payload: payload, Signatures: []*mvmv1.Signature{sig}})
			if err != nil {
				t.Fatal(err)
			}
			before := f.size(t)
			_, err = mvmv1.NewExchangeServiceClient(conn).Append(ctxT(t), &mvmv1.AppendRequest{Envelope: sealed})
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code: got %v (%v), want %v", got, err, tc.code)
			}
			if tc.code == codes.OK {
				f.wantSize(t, before+1)
			} else {
				f.wantSize(t, before)
			}
		})
	}
}

// The genesis agreement carries every party's signature. Re-sending it
// must not log it again (as an "amendment" of itself): that would let any
// single party append an agreement entry nobody signed as an amendment,
// and void every fully signed amendment prepared against index 0.
func TestGenesisReplay(t *testing.T) {
	for _, who := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator} {
		t.Run(who, func(t *testing.T) {
			f := newFixture(t)
			genesis, err := os.ReadFile(filepath.Join(f.env.Certs, "agreement.envelope"))
			if err != nil {
				t.Fatal(err)
			}
			before := f.size(t)
			resp, err := f.clients[who].AppendSealed(ctxT(t), genesis)
			replayed := err == nil && !(resp.Duplicate && resp.Receipt.Index == 0)
			if replayed {
				t.Errorf("genesis re-sent by %s: got a new entry at index %d, want AlreadyExists or the duplicate of entry 0", who, resp.Receipt.Index)
			} else if err != nil && status.Code(err) != codes.AlreadyExists {
				t.Errorf("genesis re-sent by %s: code got %v (%v), want AlreadyExists or a duplicate of entry 0", who, status.Code(err), err)
			}
			f.wantSize(t, before)
			leaf, err := f.tr().API.GetAgreement(ctxT(t), &mvmv1.GetAgreementRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if e, err := entry.DecodeLeaf(leaf.Leaf); err != nil || e.Index != 0 {
				t.Errorf("agreement in force: got entry %v (%v), want index 0", e.GetIndex(), err)
			}
		})
	}
}

// The harm of the replay: an amendment every party signed against the
// genesis (amends_index 0) must still be appendable after one party
// re-sent the genesis.
func TestGenesisReplayVoidsNoAmendment(t *testing.T) {
	f := newFixture(t)
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
	amendment.Title = "MVM dev agreement, amendment 1"
	amendment.AmendsIndex = 0
	var signers []envelope.Signer
	for _, who := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator, testenv.Mediator2} {
		s := f.clients[who].Signer()
		s.EmbedCertificate = true
		signers = append(signers, s)
	}
	sealed, err := envelope.Seal(amendment, signers...)
	if err != nil {
		t.Fatal(err)
	}

	before := f.size(t)
	_, _ = f.pk().AppendSealed(ctxT(t), genesis) // the replay attempt
	resp, err := f.af().AppendSealed(ctxT(t), sealed)
	if err != nil {
		t.Fatalf("fully signed amendment after a genesis replay: got %v, want OK", err)
	}
	if resp.Receipt.Index != before {
		t.Errorf("amendment index: got %d, want %d", resp.Receipt.Index, before)
	}
	f.wantSize(t, before+1)
}
