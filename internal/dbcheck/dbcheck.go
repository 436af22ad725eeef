// Package dbcheck checks a server's database file offline, read-only, and
// reports every damage it finds: `server --verify-db FILE`.
//
// What it checks:
//
//   - the file's page structure, read from the file directly before bbolt
//     reads it (bbolt trusts its pages: a damaged one can make it fault,
//     loop or walk billions of pages): meta pages, the tree of pages of
//     every bucket, the free list, pages neither used nor free; then, if
//     all is sound, bbolt's own Tx.Check (key order among others);
//
// and, in one bbolt read transaction:
//
//   - every bucket of the layout exists (see package store);
//   - entries: consecutive 8-byte indexes from 0, fed in order to the
//     log's verifier (package verify) in keep-going mode, the one the
//     auditor runs: every leaf decodes and says its own index; entry 0 is
//     the genesis agreement, signed by every party; every later entry is
//     signed by the stored certificate it names, which chains to its
//     party's CA under the agreement in force at its receive time; an
//     amendment passes workflow.Amend; receive times follow each other
//     within the agreement's clock skew (entry.CheckReceived); no author
//     reuses a message id; the workflow reducer accepts every entry. Each
//     entry at fault is listed with its index, and not applied, so what
//     depends on it (an acknowledgement of a package whose entry failed)
//     is listed too;
//   - hashes: the Merkle tree recomputed from the leaves equals every
//     stored node, at every level, and no node is stored beyond it (damage
//     is named by level and index; a file in the layout before hashes,
//     nodes/<level>, is checked in that layout);
//   - checkpoints: each verifies with the log key the agreement at entry 0
//     publishes, for its origin, and its root is the recomputed root at
//     its size; the latest covers the whole log;
//   - cosignatures: each line belongs to a stored checkpoint and verifies
//     with a cosigner key of that name in an agreement of the log;
//   - certs: each key is the SHA-256 of its DER, which parses and names an
//     identity;
//   - msgids, packages, agreements and meta (size, agreement in force):
//     exactly what rebuilding them from the entries would write
//     (ledger.IndexRecords), nothing missing, nothing extra;
//   - the package-state index, if the file has one of this format (the
//     state keys of packages, store.StateKey; pkglist, pkgdue): exactly
//     what rebuilding it writes (ledger.PackageIndexRecords, which replays
//     each package with the reducer), nothing extra. An older format is
//     not checked: the next server to open the file rebuilds it.
//
// It needs no key but those the log itself holds: it does not check the
// parties' CRLs (`client audit` does, with the CRL files), nor that the
// genesis is one a client pinned.
package dbcheck

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/store"
)

// Options adjust a check.
type Options struct {
	// OnDamage, if set, is called with each listed damage as soon as it is
	// found, before the check goes on.
	OnDamage func(Damage)
}

// File checks the database file at path, opened read-only (a server must
// not be running on it: bbolt's file lock would make the open time out).
// The error is for a file that cannot be opened at all; everything else is
// in the report.
func File(path string) (*Report, error) { return Check(path, Options{}) }

// Check is File with options.
func Check(path string, o Options) (rep *Report, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	// Should the file fool bbolt, report it rather than crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			rep, err = nil, fmt.Errorf("%s: bbolt cannot read the file: %v", path, r)
		}
	}()
	c := newChecker(o)
	// Opening takes bbolt's shared lock (no server may write meanwhile)
	// and reads only the meta pages, which carry a checksum.
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w (is a server running on it?)", path, err)
	}
	if err != nil {
		c.checkPages(path) // says what is wrong, if it can
		if c.rep.OK() {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return c.rep, nil
	}
	defer db.Close()
	return c.checkDB(db)
}

// checkDB reads the file's pages first (checkPages): bbolt reads the
// contents only if its tree of pages is sound.
func (c *checker) checkDB(db *bolt.DB) (*Report, error) {
	treeOK, allOK := c.checkPages(db.Path())
	if !treeOK {
		return c.rep, nil // bbolt cannot safely read it: what was found is the report
	}
	return c.view(db, allOK)
}

func newChecker(o Options) *checker {
	return &checker{rep: &Report{Omitted: map[string]int{}}, certs: map[string]*signer{}, reported: map[string]bool{},
		onDamage: o.OnDamage}
}

// view runs the checks of the contents in one read transaction.
//
// bbolt trusts the page structure of its file: a damaged page can make it
// panic, fault by reading outside its memory mapping, or loop. So the file
// was first read page by page (checkPages), and bbolt only reads a file
// whose tree of pages is sound; structureOK says whether the free list and
// the page accounting are sound too, which bbolt's own check (Tx.Check,
// run last) needs. Faults are turned into panics on this goroutine and
// reported as damage all the same.
func (c *checker) view(db *bolt.DB, structureOK bool) (*Report, error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	c.structureOK = structureOK
	err := db.View(func(tx *bolt.Tx) error {
		c.tx = tx
		c.run()
		return nil
	})
	return c.rep, err
}

type checker struct {
	tx  *bolt.Tx
	rep *Report

	entries, nodes, checkpoints, cosigs, certsB, msgids, pkgs, ags, meta *bolt.Bucket
	// oldNodes is set instead of nodes for a file in the layout before
	// the hashes bucket.
	oldNodes *bolt.Bucket

	certs map[string]*signer
	// history holds the agreements of the log in order, as the verifier
	// established them; genesis is entry 0's, parsed even if its
	// signatures fail, for its log key.
	history []*agreement.Agreement
	genesis *agreement.Agreement
	// size is the number of consecutive entries from 0.
	size uint64
	// damagedEntries are entries whose index records could not be computed.
	damagedEntries map[uint64]bool
	// Index records expected from the entries.
	wantMsgIDs, wantPackages int
	wantAgreements           []uint64
	// states counts the package-state keys of packages (store.StateKey),
	// which checkPackageIndex checks, not checkPackages.
	states int
	// reported keys of msgids and packages, so the reverse scan does not
	// report them twice.
	reported map[string]bool

	onDamage    func(Damage)
	structureOK bool
	// listed counts the damage listed per bucket.
	listed map[string]int
}

func (c *checker) damage(bucket, key, format string, args ...any) {
	if c.listed == nil {
		c.listed = map[string]int{}
	}
	if c.listed[bucket] >= MaxPerBucket {
		c.rep.Omitted[bucket]++
		return
	}
	c.listed[bucket]++
	d := Damage{Bucket: bucket, Key: key, Problem: fmt.Sprintf(format, args...)}
	c.rep.Damage = append(c.rep.Damage, d)
	if c.onDamage != nil {
		c.onDamage(d)
	}
}

func (c *checker) run() {
	defer func() {
		// bbolt panics on some corrupt pages rather than returning an error.
		if r := recover(); r != nil {
			c.damage("file", "", "reading the file failed: %v", r)
		}
	}()
	if !c.walk() {
		return
	}
	get := func(name string) *bolt.Bucket {
		b := c.tx.Bucket([]byte(name))
		if b == nil {
			c.damage(name, "", "bucket missing")
		}
		return b
	}
	if c.tx.Bucket([]byte(store.BucketHashes)) == nil && c.tx.Bucket([]byte(oldNodes)) != nil {
		// A file from before the hashes bucket (a backup, say): checked in
		// its own layout; the server moves it over when it opens the file.
		c.oldNodes = c.tx.Bucket([]byte(oldNodes))
	} else {
		c.nodes = get(store.BucketHashes)
	}
	c.entries, c.checkpoints = get(store.BucketEntries), get(store.BucketCheckpoints)
	c.cosigs, c.certsB, c.msgids = get(store.BucketCosignatures), get(store.BucketCerts), get(store.BucketMsgIDs)
	c.pkgs, c.ags, c.meta = get(store.BucketPackages), get(store.BucketAgreements), get(store.BucketMeta)
	c.damagedEntries = map[uint64]bool{}

	c.checkCerts()
	c.checkEntriesAndTree()
	c.checkNodeBuckets()
	c.checkMsgIDs()
	c.checkPackages()
	c.checkAgreements()
	c.checkMeta()
	c.checkCosignatures()
	c.checkPackageIndex()

	if c.structureOK {
		for err := range c.tx.Check(bolt.WithKVStringer(shortKV{})) {
			c.damage("file", "", "%v", err)
		}
	}
}

// shortKV renders keys and values in bbolt's structural check messages
// without reading more than a few bytes of them.
type shortKV struct{}

func (shortKV) KeyToString(k []byte) string   { return short(k) }
func (shortKV) ValueToString(v []byte) string { return short(v) }

func short(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x... (%d bytes)", b[:16], len(b))
	}
	return hex.EncodeToString(b)
}

// walk reads every bucket, key and value of the file; it reports whether
// that worked.
func (c *checker) walk() (ok bool) {
	var where []string
	defer func() {
		if r := recover(); r != nil {
			c.damage("file", "", "reading bucket %q failed: %v", strings.Join(where, "/"), r)
			ok = false
		}
	}()
	var touched byte
	var visit func(b *bolt.Bucket) error
	visit = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				where = append(where, string(k))
				if sub := b.Bucket(k); sub != nil {
					if err := visit(sub); err != nil {
						return err
					}
				}
				where = where[:len(where)-1]
				return nil
			}
			if len(k) > 0 {
				touched ^= k[0] ^ k[len(k)-1]
			}
			if len(v) > 0 {
				touched ^= v[0] ^ v[len(v)-1]
			}
			return nil
		})
	}
	err := c.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		where = []string{string(name)}
		return visit(b)
	})
	if err != nil {
		c.damage("file", "", "reading the buckets failed: %v", err)
		return false
	}
	_ = touched
	return true
}
