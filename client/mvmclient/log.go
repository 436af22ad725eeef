package mvmclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Entries calls fn for every raw leaf in [start, end), in order, streaming
// them from the server; end 0 means up to the log's current size. Each
// leaf is decoded into memory of its own, fn's to keep. With
// Certificate it makes a Client an audit source (internal/audit.Source).
func (c *Client) Entries(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error {
	if end != 0 && start == end {
		return nil
	}
	stream, err := c.API.GetEntries(ctx, &mvmv1.GetEntriesRequest{Start: start, End: end})
	if err != nil {
		return err
	}
	next := start
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if msg.FirstIndex != next {
			return fmt.Errorf("server sent entries from %d, expected %d", msg.FirstIndex, next)
		}
		for _, leaf := range msg.Leaves {
			if err := fn(next, leaf); err != nil {
				return err
			}
			next++
		}
	}
	if end != 0 && next != end {
		return fmt.Errorf("server sent entries up to %d, expected %d", next, end)
	}
	return nil
}

// Certificate returns the stored DER certificate with the given SHA-256.
// The caller must check the digest (the auditor does).
func (c *Client) Certificate(ctx context.Context, sha []byte) ([]byte, error) {
	resp, err := c.API.GetCertificates(ctx, &mvmv1.GetCertificatesRequest{Sha256: [][]byte{sha}})
	if err != nil {
		return nil, err
	}
	if len(resp.Certificates) != 1 {
		return nil, fmt.Errorf("server returned %d certificates for one fingerprint", len(resp.Certificates))
	}
	return resp.Certificates[0], nil
}
