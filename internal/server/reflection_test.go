package server_test

import (
	"errors"
	"io"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// listServices asks the reflection service on conn for the services.
func listServices(t *testing.T, conn *grpc.ClientConn) ([]string, error) {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctxT(t))
	if err != nil {
		return nil, err
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the server ended the stream first (as it does without
		// reflection); Recv has its status.
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names, nil
}

// TestReflection: with Config.Reflection an authenticated party lists the
// services over real mTLS; the reflection service stays behind the auth
// interceptor (a certificate revoked since the connection opened is
// refused on it); without the option there is no reflection service.
func TestReflection(t *testing.T) {
	e := testenv.New(t, noWatch, func(c *server.Config) { c.Reflection = true })
	issue(t, e.Certs, "pk-second")
	c := e.Client("pk-second")
	names, err := listServices(t, c.Conn())
	if err != nil {
		t.Fatalf("list services: %v", err)
	}
	for _, want := range []string{"mvm.v1.ExchangeService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("services %v lack %s", names, want)
		}
	}

	// The same connection, after a revocation: the interceptor refuses.
	revoke(t, e.Certs, "pk-second")
	if err := e.Server.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := listServices(t, c.Conn()); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reflection by a revoked identity on an open connection: %v, want Unauthenticated", err)
	}

	off := testenv.New(t)
	if _, err := listServices(t, off.Client(testenv.Submitter).Conn()); status.Code(err) != codes.Unimplemented {
		t.Fatalf("reflection without the option: %v, want Unimplemented", err)
	}
}
