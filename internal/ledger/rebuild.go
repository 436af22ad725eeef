package ledger

import (
	"crypto/x509"
	"errors"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
)

// RebuildIndexes recomputes the store's indexes (message ids, packages,
// agreements) from the entries alone. Run it on a closed ledger's store,
// e.g. after restoring a database whose indexes are damaged.
func RebuildIndexes(st *store.Store) error {
	return st.RebuildIndexes(func(i uint64, leaf []byte, cert func([]byte) []byte) (store.IndexRecords, error) {
		var r store.IndexRecords
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return r, err
		}
		env, err := envelope.Parse(e.Envelope)
		if err != nil {
			return r, err
		}
		p, err := message.Decode(env.PayloadType, env.Payload)
		if err != nil {
			return r, err
		}
		r.Agreement = env.PayloadType == message.TypeAgreement
		if i == 0 {
			return r, nil // genesis: no peer, no message id index
		}
		der := cert(e.PeerCertificateSha256)
		if der == nil {
			return r, errors.New("signer certificate not stored")
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return r, err
		}
		author, err := identity.Parse(c)
		if err != nil {
			return r, err
		}
		r.MsgID = store.MsgIDKey(author.URI(), message.Header(p).GetMessageId())
		if id := message.PackageID(p); id != "" {
			r.Package = store.PackageKey(id, i)
		}
		return r, nil
	})
}
