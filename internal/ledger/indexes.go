package ledger

import (
	"errors"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
)

// IndexRecords returns the index records the leaf at index i contributes:
// what [RebuildIndexes] writes for it, and what the writer stored when it
// committed it. author returns the identity of a stored signer
// certificate, by SHA-256 (nil, error if it is not stored).
func IndexRecords(i uint64, leaf []byte, author func(sha []byte) (identity.Identity, error)) (store.IndexRecords, error) {
	o, err := entry.Open(leaf)
	if err != nil {
		return store.IndexRecords{}, err
	}
	return IndexRecordsOpened(i, o, author)
}

// IndexRecordsOpened is [IndexRecords] for a leaf the caller opened
// (dbcheck gets it opened from the verifier).
func IndexRecordsOpened(i uint64, o *entry.Opened, author func(sha []byte) (identity.Identity, error)) (store.IndexRecords, error) {
	var r store.IndexRecords
	r.Agreement = o.IsAgreement()
	if i == 0 {
		return r, nil // genesis: no peer, no message id index
	}
	if author == nil {
		return r, errors.New("no signer certificates")
	}
	id, err := author(o.Entry.PeerCertificateSha256)
	if err != nil {
		return r, err
	}
	r.MsgID = store.MsgIDKey(id.URI(), o.MessageID())
	if pkg := message.PackageID(o.Payload); pkg != "" {
		r.Package = store.PackageKey(pkg, i)
	}
	return r, nil
}
