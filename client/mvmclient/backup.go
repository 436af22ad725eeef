package mvmclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// BackupInfo describes a backup received by [Client.Backup].
type BackupInfo struct {
	// Size is the number of entries in the copy; Checkpoint is the log's
	// signed checkpoint of that size, as the server sent it (verify it).
	Size       uint64
	Checkpoint []byte
	// Bytes is the length of the copy and SHA256 its digest.
	Bytes  int64
	SHA256 []byte
}

// Backup receives a consistent copy of the server's database file and
// writes it to w. Only an operator identity of the server may call it
// (PermissionDenied otherwise). It fails unless exactly the announced
// number of bytes arrived with the SHA-256 the server sent last.
func (c *Client) Backup(ctx context.Context, w io.Writer) (*BackupInfo, error) {
	stream, err := c.API.Backup(ctx, &mvmv1.BackupRequest{})
	if err != nil {
		return nil, err
	}
	head, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if len(head.Data) > 0 || len(head.Checkpoint) == 0 || head.TotalBytes <= 0 {
		return nil, errors.New("backup stream: the server's first message is not a header")
	}
	info := &BackupInfo{Size: head.LogSize, Checkpoint: head.Checkpoint, Bytes: head.TotalBytes}
	sum := sha256.New()
	var got int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("backup stream: the stream ended after %d of %d bytes without a digest", got, info.Bytes)
		}
		if err != nil {
			return nil, err
		}
		if len(msg.Sha256) > 0 {
			if got != info.Bytes {
				return nil, fmt.Errorf("backup stream: received %d bytes, the server announced %d", got, info.Bytes)
			}
			if !bytes.Equal(msg.Sha256, sum.Sum(nil)) {
				return nil, fmt.Errorf("backup stream: the copy's SHA-256 is %x, the server sent %x", sum.Sum(nil), msg.Sha256)
			}
			info.SHA256 = msg.Sha256
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("backup stream: unexpected data after the digest (%v)", err)
			}
			return info, nil
		}
		if got += int64(len(msg.Data)); got > info.Bytes {
			return nil, fmt.Errorf("backup stream: more than the %d bytes announced", info.Bytes)
		}
		sum.Write(msg.Data)
		if _, err := w.Write(msg.Data); err != nil {
			return nil, fmt.Errorf("backup stream: %w", err)
		}
	}
}
