// Package mvmclient is the Go client library of MVM Exchange.
//
// A [Client] holds one mutual-TLS connection and one identity. Every
// message it sends is serialized once and signed with the identity's key
// ([envelope.Seal]); retries after a timeout or an unavailable server resend
// the very same bytes, which the server answers idempotently with the
// original receipt.
package mvmclient

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/chunkcodec"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Options locate the server and the identity.
type Options struct {
	Server string // host:port
	// CertFile, KeyFile: the client identity (PEM).
	CertFile, KeyFile string
	// ServerCA: PEM file of the CA that issued the server's certificate.
	ServerCA string
	// Retries of transient failures (Unavailable, DeadlineExceeded) per
	// append. Default 5; negative disables.
	Retries int
	// CallTimeout bounds one attempt. Default 10s.
	CallTimeout time.Duration
}

// FromCertsDir fills Options from a dev PKI directory: DIR/NAME.crt/.key and
// DIR/ca-server.crt.
func FromCertsDir(server, dir, name string) Options {
	return Options{
		Server:   server,
		CertFile: filepath.Join(dir, name+".crt"),
		KeyFile:  filepath.Join(dir, name+".key"),
		ServerCA: filepath.Join(dir, "ca-server.crt"),
	}
}

// Client is a connection with an identity. Safe for concurrent use.
type Client struct {
	conn   *grpc.ClientConn
	API    mvmv1.ExchangeServiceClient
	signer envelope.Signer
	ID     identity.Identity
	opts   Options
}

// Dial connects (lazily; the first call performs the handshake).
func Dial(o Options) (*Client, error) {
	if o.Retries == 0 {
		o.Retries = 5
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Second
	}
	pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	id, err := identity.Parse(leaf)
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", o.CertFile, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("load identity: private key cannot sign")
	}
	caPEM, err := os.ReadFile(o.ServerCA)
	if err != nil {
		return nil, fmt.Errorf("server CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("server CA %s: no PEM certificate", o.ServerCA)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, Certificates: []tls.Certificate{pair}}
	conn, err := grpc.NewClient(o.Server, grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.ForceCodecV2(chunkcodec.Codec{})))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", o.Server, err)
	}
	return &Client{
		conn:   conn,
		API:    mvmv1.NewExchangeServiceClient(conn),
		signer: envelope.Signer{Key: key, Certificate: leaf},
		ID:     id,
		opts:   o,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn is the underlying connection (for health checks).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Signer is the identity's signer.
func (c *Client) Signer() envelope.Signer { return c.signer }

// NewMessageID returns a fresh message id: 48 bits of Unix milliseconds
// then 48 random bits, in hex (24 characters). Time-ordered ids keep the
// server's id indexes appending at their end instead of touching a random
// page per entry, which makes group commits several times cheaper.
func NewMessageID() string {
	var b [12]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// NewHeader returns a header with a fresh message id and the current time.
func NewHeader() *mvmv1.Header {
	return &mvmv1.Header{MessageId: NewMessageID(), AuthoredAt: timestamppb.Now()}
}

// Seal signs a payload with the client's identity.
func (c *Client) Seal(m proto.Message) ([]byte, error) { return envelope.Seal(m, c.signer) }

// SealPayload signs a payload serialized already (message.SealMessagePayload
// gives a sealed message's bytes) with the client's identity.
func (c *Client) SealPayload(payloadType string, payload []byte) ([]byte, error) {
	return envelope.SealPayload(payloadType, payload, c.signer)
}

// Append signs m and appends it. See AppendSealed.
func (c *Client) Append(ctx context.Context, m proto.Message) (*mvmv1.AppendResponse, error) {
	env, err := c.Seal(m)
	if err != nil {
		return nil, err
	}
	return c.AppendSealed(ctx, env)
}

// AppendSealed appends an already signed envelope, retrying transient
// failures with the same bytes.
func (c *Client) AppendSealed(ctx context.Context, env []byte) (*mvmv1.AppendResponse, error) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
		resp, err := c.API.Append(actx, &mvmv1.AppendRequest{Envelope: env})
		cancel()
		if err == nil || attempt >= c.opts.Retries || !Transient(err) || ctx.Err() != nil {
			return resp, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, err
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Transient reports whether an append may be retried as is.
func Transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}
