package restore

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// The evidence holds (store: bucket evidenceheld), the count behind the
// per-party evidence quota (server --evidence-max-party-bytes). The lost
// primary recorded a hold as each upload began; a restored file starts
// with none, so without them a restored primary would let every party
// upload its whole quota again. [EvidenceHolds] derives them from what
// the restored primary holds: each file an evidence submission of the
// log names and the evidence store holds whole (its size as the log names
// it) is held by the party of the submission's signer, the first
// submission naming it in log order (the bytes are counted once, as the
// primary counts them). Files the store does not hold are not counted
// (an upload of them later takes its hold then); nor are uploads the
// lost primary had under way, or files uploaded and never submitted,
// which the log does not name and the node never copied.

// Holds says what [EvidenceHolds] recorded.
type Holds struct {
	// Files and Bytes held, by party.
	Files, Bytes map[string]int64
	// NotStored counts the files named that the store does not hold
	// whole.
	NotStored int
}

// EvidenceHolds records, in l's store, the hold of every evidence file
// the log names and objects holds (see above). Holds already recorded
// are kept (store.HoldEvidence): running it twice changes nothing.
func EvidenceHolds(ctx context.Context, l *ledger.Ledger, objects evidence.Store) (*Holds, error) {
	files, err := loggedFiles(ctx, l)
	if err != nil {
		return nil, err
	}
	out := &Holds{Files: map[string]int64{}, Bytes: map[string]int64{}}
	held := map[evidence.Digest]bool{}
	for _, f := range files {
		if held[f.d] {
			continue
		}
		size, err := objects.Stat(ctx, f.d)
		if errors.Is(err, evidence.ErrNotFound) || (err == nil && size != f.size) {
			out.NotStored++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("the evidence store, for %s (entry %d): %w", f.d, f.index, err)
		}
		if _, err := l.Store().HoldEvidence(f.d[:], f.party, size, -1); err != nil {
			return nil, fmt.Errorf("record the hold of %s (entry %d) for party %s: %w", f.d, f.index, f.party, err)
		}
		held[f.d] = true
		out.Files[f.party]++
		out.Bytes[f.party] += size
	}
	return out, nil
}

// loggedFile is a file an evidence submission names, and whose.
type loggedFile struct {
	index uint64
	party string
	d     evidence.Digest
	size  int64
}

// loggedFiles lists the files the log's evidence submissions name, in
// log order, each with the party of the submission's signer.
func loggedFiles(ctx context.Context, l *ledger.Ledger) ([]loggedFile, error) {
	evidenceType := []byte(message.TypeEvidenceSubmission)
	parties := map[string]string{} // by certificate SHA-256
	var out []loggedFile
	for scanned := uint64(0); scanned < l.Size(); {
		err := l.ReadIndex(ctx, func(v store.View, h *ledger.Head) error {
			end := min(h.Size, scanned+4096)
			for i := scanned; i < end; i++ {
				leaf := v.Leaf(i)
				if !bytes.Contains(leaf, evidenceType) {
					continue // its envelope's payload type is another
				}
				o, err := entry.Open(leaf)
				if err != nil {
					return fmt.Errorf("entry %d: %w", i, err)
				}
				es, ok := o.Payload.(*mvmv1.EvidenceSubmission)
				if !ok || len(es.Files) == 0 {
					continue
				}
				party, err := signerParty(v, o.Entry.PeerCertificateSha256, parties)
				if err != nil {
					return fmt.Errorf("entry %d: %w", i, err)
				}
				for _, f := range es.Files {
					d, err := evidence.ParseDigest(f.StoredSha256)
					if err != nil {
						continue // the reducer refused such a file: not logged
					}
					out = append(out, loggedFile{index: i, party: party, d: d, size: f.StoredSize})
				}
			}
			scanned = end
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("the log's evidence files: %w", err)
		}
	}
	return out, nil
}

// signerParty is the party of the stored certificate with SHA-256 sha.
func signerParty(v store.View, sha []byte, parties map[string]string) (string, error) {
	if p, ok := parties[string(sha)]; ok {
		return p, nil
	}
	der := v.Certificate(sha)
	if der == nil {
		return "", fmt.Errorf("signer certificate %x not stored", sha)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "", err
	}
	id, err := identity.Parse(c)
	if err != nil {
		return "", err
	}
	parties[string(sha)] = id.Party
	return id.Party, nil
}
