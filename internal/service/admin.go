package service

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Operator identities.
//
// Running the server is not a role of the agreement: the parties agree on
// who submits, responds and mediates, not on who holds the disk. So the
// admin RPCs are open to the identities the server's own configuration
// names (Options.Operators, server --operator URI), and to nobody by
// default. An operator is still an ordinary party identity: its client
// certificate must chain to its party's CA under the agreement and pass
// the CRLs, like every caller's. Being an operator grants nothing in the
// log: a backup is a copy of what every party may already read.

// CheckOperator checks that uri is a well-formed operator identity,
// spiffe://<trust-domain>/party/<party>/<name>, in the canonical form
// the server compares with callers' identities.
func CheckOperator(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("operator %q: %w", uri, err)
	}
	id, err := identity.Parse(&x509.Certificate{URIs: []*url.URL{u}})
	if err != nil {
		return fmt.Errorf("operator %q: %w", uri, err)
	}
	if id.URI() != uri {
		return fmt.Errorf("operator %q: write it as %s", uri, id.URI())
	}
	return nil
}

// requireOperator refuses a caller that is not one of the configured
// operator identities; what names the action ("take backups").
func (s *Service) requireOperator(c *Caller, what string) error {
	if c == nil {
		return status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	if !slices.Contains(s.opts.Operators, c.ID.URI()) {
		if len(s.opts.Operators) == 0 {
			return status.Errorf(codes.PermissionDenied, "this server has no operator identities (server --operator URI): nobody may %s", what)
		}
		return status.Errorf(codes.PermissionDenied, "only the server's operator identities may %s; %s is not one", what, c.ID.URI())
	}
	return nil
}

// backupSlot allows one backup at a time in a server process: each
// needs a temporary copy of the whole database beside it.
var backupSlot = make(chan struct{}, 1)

// backupChunk is the size of the data of one Backup message.
const backupChunk = 256 << 10

// backupDurableWait bounds how long a backup waits for the commit it
// copied to be published (that is, made durable).
const backupDurableWait = 10 * time.Second

// Backup streams a consistent copy of the database to an operator.
//
// One backup runs at a time (ResourceExhausted otherwise). The copy is one
// bbolt read transaction (store.Backup) written first to an unlinked
// temporary file beside the database, so that the read transaction lasts
// as long as a local copy and not as long as a slow client: commits go on
// meanwhile. bbolt lets readers see a commit before its last fsync; the
// copy is sent only once the ledger has published a head at least as
// large as the copy, so a backup never holds a checkpoint the server has
// not made durable (and that a crash could make it sign differently).
func (s *Service) Backup(_ *mvmv1.BackupRequest, stream grpc.ServerStreamingServer[mvmv1.BackupResponse]) error {
	ctx := stream.Context()
	caller, _ := CallerFrom(ctx)
	if err := s.requireOperator(caller, "take backups"); err != nil {
		return err
	}
	select {
	case backupSlot <- struct{}{}:
		defer func() { <-backupSlot }()
	default:
		return status.Error(codes.ResourceExhausted, "another backup is being taken; retry when it is done")
	}
	start := time.Now()
	f, info, err := s.l.Store().BackupToTemp()
	if err != nil {
		s.log.Error("backup failed", "peer", caller.ID.String(), "err", err)
		return status.Errorf(codes.Internal, "backup: %v", err)
	}
	defer f.Close()
	timeout := time.NewTimer(backupDurableWait)
	defer timeout.Stop()
	for h := s.l.Head(); h.Size < info.Size; h = s.l.Head() {
		select {
		case <-h.Changed():
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stop:
			return status.Error(codes.Unavailable, "server is shutting down; take the backup again")
		case <-timeout.C:
			return status.Errorf(codes.Unavailable, "backup: the commit of size %d was not published within %s; take the backup again", info.Size, backupDurableWait)
		}
	}
	if err := stream.Send(&mvmv1.BackupResponse{LogSize: info.Size, Checkpoint: info.Checkpoint, TotalBytes: info.Bytes}); err != nil {
		return err
	}
	// A client that stops reading must not hold the one backup slot.
	out := newStallSender(stream, s.opts.StallTimeout)
	defer out.close()
	sum := sha256.New()
	var sent int64
	for {
		// A fresh buffer each time: a sent message must not change after.
		buf := make([]byte, backupChunk)
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			sum.Write(buf[:n])
			if err := out.sendMsg(ctx, &mvmv1.BackupResponse{Data: buf[:n]}); err != nil {
				if errors.Is(err, errStalled) {
					return status.Errorf(codes.Unavailable, "backup: the client took no data for %s; take the backup again", s.opts.StallTimeout)
				}
				return err
			}
			sent += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return status.Errorf(codes.Internal, "backup: reading the copy: %v", err)
		}
	}
	if sent != info.Bytes {
		return status.Errorf(codes.Internal, "backup: copied %d bytes but read back %d", info.Bytes, sent)
	}
	if err := stream.Send(&mvmv1.BackupResponse{Sha256: sum.Sum(nil)}); err != nil {
		return err
	}
	s.log.Info("backup sent", "peer", caller.ID.String(), "size", info.Size, "bytes", info.Bytes, "took", time.Since(start))
	return nil
}
