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
//   - entries: consecutive 8-byte indexes from 0; every leaf decodes, says
//     its own index, and has a receive time no earlier than the previous
//     entry's; entry 0 is the genesis agreement, signed by every party;
//     every later entry passes entry.Admit under the agreement in force
//     (the signer's certificate is stored, chains to its party's CA at the
//     receive time, and its key signed the exact envelope bytes), and an
//     amendment passes workflow.Amend;
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
//   - pkgstate, pkglist, pkgdue (the package-state index, if the file has
//     one): exactly what rebuilding it writes (ledger.PackageIndexRecords,
//     which replays each package with the reducer), nothing extra.
//
// Beyond that index it does not judge the workflow (that is the auditor's
// job: start a server on the file and run `client audit`), and it needs
// no key but those the log itself holds.
package dbcheck

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Damage is one thing wrong in the file.
type Damage struct {
	// Bucket is a bucket of the layout ("entries", "hashes", "meta", ...)
	// or "file" for the bbolt structure itself.
	Bucket string
	// Key is the record's key, readable: an index or size in decimal, a
	// certificate fingerprint in hex, "author message-id", "package@index",
	// "size/cosigner", or a meta key.
	Key string
	// Problem says what is wrong.
	Problem string
}

func (d Damage) String() string {
	if d.Key == "" {
		return d.Bucket + ": " + d.Problem
	}
	return d.Bucket + " " + d.Key + ": " + d.Problem
}

// MaxPerBucket bounds the damage listed per bucket; the rest is counted
// in Report.Omitted. One altered entry invalidates every later checkpoint
// root, so a list without a bound could run to millions of lines.
const MaxPerBucket = 100

// Report is the outcome of a check.
type Report struct {
	Entries          uint64
	Nodes            int
	Checkpoints      int
	LatestCheckpoint uint64
	Cosignatures     int
	Certs            int
	MsgIDs           int
	Packages         int
	Agreements       int
	Damage           []Damage
	// Omitted counts, per bucket, damage found beyond MaxPerBucket.
	Omitted map[string]int
}

// OK reports whether no damage was found.
func (r *Report) OK() bool { return len(r.Damage) == 0 }

// Problems is the number of damaged records found, listed or not.
func (r *Report) Problems() int {
	n := len(r.Damage)
	for _, m := range r.Omitted {
		n += m
	}
	return n
}

// Has reports whether some listed damage is in bucket (a prefix match:
// "nodes" matches every level) and mentions problem.
func (r *Report) Has(bucket, problem string) bool {
	for _, d := range r.Damage {
		if strings.HasPrefix(d.Bucket, bucket) && strings.Contains(d.Problem, problem) {
			return true
		}
	}
	return false
}

// Summary is the one line that describes a clean database.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d entries, %d tree nodes, %d checkpoints (latest of size %d), %d cosignatures, %d certificates, %d message ids, %d package index records, %d agreements",
		r.Entries, r.Nodes, r.Checkpoints, r.LatestCheckpoint, r.Cosignatures, r.Certs, r.MsgIDs, r.Packages, r.Agreements)
}

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

// Main is `server --verify-db FILE`: it prints every damage as it is
// found, then a summary line, and returns the exit status (0 clean, 1
// damaged or unreadable).
func Main(path string, stdout, stderr io.Writer) int {
	rep, err := Check(path, Options{OnDamage: func(d Damage) { fmt.Fprintf(stdout, "damage: %s\n", d) }})
	if err != nil {
		fmt.Fprintf(stderr, "verify-db: %v\n", err)
		return 1
	}
	buckets := make([]string, 0, len(rep.Omitted))
	for b := range rep.Omitted {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	for _, b := range buckets {
		fmt.Fprintf(stdout, "damage: %s: %d more damaged records not listed\n", b, rep.Omitted[b])
	}
	if !rep.OK() {
		n, noun := rep.Problems(), "problems"
		if n == 1 {
			noun = "problem"
		}
		fmt.Fprintf(stdout, "verify-db: %s is DAMAGED: %d %s\n", path, n, noun)
		return 1
	}
	fmt.Fprintf(stdout, "verify-db: %s OK: %s\n", path, rep.Summary())
	return 0
}

// signer is a stored certificate that parsed.
type signer struct {
	cert *x509.Certificate
	id   identity.Identity
}

type checker struct {
	tx  *bolt.Tx
	rep *Report

	entries, nodes, checkpoints, cosigs, certsB, msgids, pkgs, ags, meta *bolt.Bucket
	// oldNodes is set instead of nodes for a file in the layout before
	// the hashes bucket.
	oldNodes *bolt.Bucket

	certs map[string]*signer
	// history holds the agreements of the log in order, as the entries
	// establish them; genesis is entry 0's, parsed even if its signatures
	// fail, for its log key.
	history []*agreement.Agreement
	genesis *agreement.Agreement
	// size is the number of consecutive entries from 0.
	size uint64
	// damagedEntries are entries whose index records could not be computed.
	damagedEntries map[uint64]bool
	// Index records expected from the entries.
	wantMsgIDs, wantPackages int
	wantAgreements           []uint64
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

// --- keys

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func index(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

func numKey(k []byte) string {
	if i, ok := index(k); ok {
		return fmt.Sprint(i)
	}
	return "0x" + hex.EncodeToString(k)
}

func msgIDKey(k []byte) string {
	author, id, ok := bytes.Cut(k, []byte{0})
	if !ok {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%q", string(author)+" "+string(id))
}

func packageKey(k []byte) string {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%q", fmt.Sprintf("%s@%d", k[:len(k)-9], binary.BigEndian.Uint64(k[len(k)-8:])))
}

// has reports whether b holds key k (with any value, empty included).
func has(b *bolt.Bucket, k []byte) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	got, v := b.Cursor().Seek(k)
	if got == nil || !bytes.Equal(got, k) {
		return nil, false
	}
	return v, true
}

// --- certs

func (c *checker) checkCerts() {
	if c.certsB == nil {
		return
	}
	_ = c.certsB.ForEach(func(k, v []byte) error {
		c.rep.Certs++
		key := hex.EncodeToString(k)
		if v == nil {
			c.damage(store.BucketCerts, key, "is a bucket, not a certificate")
			return nil
		}
		if sum := sha256.Sum256(v); !bytes.Equal(sum[:], k) {
			c.damage(store.BucketCerts, key, "the certificate's SHA-256 is %x, not its key", sum)
			return nil
		}
		cert, err := x509.ParseCertificate(v)
		if err != nil {
			c.damage(store.BucketCerts, key, "does not parse: %v", err)
			return nil
		}
		id, err := identity.Parse(cert)
		if err != nil {
			c.damage(store.BucketCerts, key, "%v", err)
			return nil
		}
		c.certs[string(k)] = &signer{cert: cert, id: id}
		return nil
	})
}

func (c *checker) author(sha []byte) (identity.Identity, error) {
	if s, ok := c.certs[string(sha)]; ok {
		return s.id, nil
	}
	return identity.Identity{}, fmt.Errorf("signer certificate %x is not stored (or is damaged)", sha)
}

// --- entries, tree, checkpoints

// chunk is how many entries are verified in parallel at a time.
const chunk = 1024

// work is one entry on its way through the check.
type work struct {
	i    uint64
	leaf []byte
	// ag and cert, if ag is set: entry.Admit is still to run (in parallel).
	ag       *agreement.Agreement
	cert     *x509.Certificate
	envelope []byte
	at       time.Time
	// bad are problems with the entry itself; noIndex means its index
	// records cannot be computed; notes are other problems.
	bad     []string
	noIndex bool
	notes   []string
}

// cpWork is a stored checkpoint and the root recomputed at its size.
type cpWork struct {
	size         uint64
	signed, root []byte
	problem      string
}

// entryState is the state of the pass over the entries.
type entryState struct {
	tree     *tlog.Tree
	cps      bucketCursor
	cpK, cpV []byte
	lastTime time.Time
	work     []*work
	cpWork   []*cpWork
}

func (c *checker) checkEntriesAndTree() {
	if c.entries == nil {
		return
	}
	st := &entryState{cps: cursor(c.checkpoints)}
	st.tree, _ = tlog.NewTree(0, nil)
	st.cpK, st.cpV = st.cps.first()
	gap := false
	cur := c.entries.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		i, ok := index(k)
		switch {
		case !ok:
			c.damage(store.BucketEntries, numKey(k), "key is not an 8-byte index")
		case v == nil:
			c.damage(store.BucketEntries, numKey(k), "is a bucket, not an entry")
		case gap:
			c.damage(store.BucketEntries, numKey(k), "follows missing entry %d", c.size+uint64(len(st.work)))
		case i != c.size+uint64(len(st.work)):
			c.flush(st)
			c.damage(store.BucketEntries, fmt.Sprint(c.size), "missing (the next stored entry is %d)", i)
			gap = true
		default:
			// The slices stay valid while the read transaction is open.
			st.work = append(st.work, c.prepare(i, v, &st.lastTime))
			if len(st.work) == chunk {
				c.flush(st)
			}
		}
	}
	c.flush(st)
	c.rep.Entries = c.size
	for ; st.cpK != nil; st.cpK, st.cpV = st.cps.next() {
		c.rep.Checkpoints++
		if sz, ok := index(st.cpK); ok && sz > c.size {
			if gap {
				c.damage(store.BucketCheckpoints, numKey(st.cpK), "cannot be checked: entry %d is missing", c.size)
			} else {
				c.damage(store.BucketCheckpoints, numKey(st.cpK), "covers %d entries; the log has %d", sz, c.size)
			}
			c.rep.LatestCheckpoint = max(c.rep.LatestCheckpoint, sz)
			continue
		}
		c.badCheckpointKey(st.cpK)
	}
	if c.rep.LatestCheckpoint != c.size && c.checkpoints != nil {
		c.damage(store.BucketCheckpoints, "", "the latest checkpoint is of size %d, the log has %d entries (the server refuses to start)", c.rep.LatestCheckpoint, c.size)
	}
}

// flush verifies the signatures of the pending entries in parallel, then
// takes them in log order through the index records, the tree and the
// checkpoints at their sizes, whose signatures it verifies in parallel.
func (c *checker) flush(st *entryState) {
	parallel(len(st.work), func(j int) {
		w := st.work[j]
		if w.ag != nil {
			if _, err := entry.Admit(w.ag, w.envelope, w.cert, w.at); err != nil {
				w.bad = append(w.bad, err.Error())
			}
		}
	})
	for _, w := range st.work {
		key := fmt.Sprint(w.i)
		for _, b := range w.bad {
			c.damage(store.BucketEntries, key, "%s", b)
			c.damagedEntries[w.i] = true
		}
		for _, n := range w.notes {
			c.damage(store.BucketEntries, key, "%s", n)
		}
		if w.noIndex {
			c.damagedEntries[w.i] = true
		} else {
			c.checkIndexRecords(w.i, w.leaf)
		}
		c.size++
		if err := st.tree.Append(tlog.LeafHash(w.leaf), c.compareNode); err != nil {
			c.damage(store.BucketEntries, key, "extending the tree: %v", err) // cannot happen: leaf hashes are 32 bytes
		}
		// Every checkpoint up to this size: those of a smaller size were
		// passed over (malformed keys or size 0).
		for st.cpK != nil {
			sz, ok := index(st.cpK)
			if ok && sz > c.size {
				break
			}
			if !ok || sz < c.size {
				c.badCheckpointKey(st.cpK)
			} else if root, err := st.tree.Root(); err != nil {
				c.damage(store.BucketEntries, key, "tree root: %v", err)
			} else {
				st.cpWork = append(st.cpWork, &cpWork{size: sz, signed: st.cpV, root: root})
			}
			st.cpK, st.cpV = st.cps.next()
		}
	}
	st.work = st.work[:0]
	parallel(len(st.cpWork), func(j int) { c.verifyCheckpoint(st.cpWork[j]) })
	for _, cw := range st.cpWork {
		c.rep.Checkpoints++
		c.rep.LatestCheckpoint = max(c.rep.LatestCheckpoint, cw.size)
		if cw.problem != "" {
			c.damage(store.BucketCheckpoints, fmt.Sprint(cw.size), "%s", cw.problem)
		}
	}
	st.cpWork = st.cpWork[:0]
}

// parallel calls fn(0..n-1) on GOMAXPROCS goroutines and waits.
func parallel(n int, fn func(int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for j := range n {
			fn(j)
		}
		return
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for j := int(next.Add(1)) - 1; j < n; j = int(next.Add(1)) - 1 {
				fn(j)
			}
		})
	}
	wg.Wait()
}

func (c *checker) badCheckpointKey(k []byte) {
	c.rep.Checkpoints++
	if sz, ok := index(k); ok && sz == 0 {
		c.damage(store.BucketCheckpoints, "0", "a checkpoint of the empty log is never stored")
		return
	}
	c.damage(store.BucketCheckpoints, numKey(k), "key is not an 8-byte size")
}

// bucketCursor iterates a bucket that may be missing.
type bucketCursor struct{ c *bolt.Cursor }

func cursor(b *bolt.Bucket) bucketCursor {
	if b == nil {
		return bucketCursor{}
	}
	return bucketCursor{b.Cursor()}
}

func (b bucketCursor) first() ([]byte, []byte) {
	if b.c == nil {
		return nil, nil
	}
	return b.c.First()
}

func (b bucketCursor) next() ([]byte, []byte) {
	if b.c == nil {
		return nil, nil
	}
	return b.c.Next()
}

// prepare does the checks of the leaf at index i that must run in log
// order: its shape, its receive time after *lastTime, and agreements
// (each changes who may sign what follows). The signature checks of other
// entries are left to flush, in parallel.
func (c *checker) prepare(i uint64, leaf []byte, lastTime *time.Time) *work {
	w := &work{i: i, leaf: leaf}
	bad := func(format string, args ...any) *work {
		w.bad = append(w.bad, fmt.Sprintf(format, args...))
		return w
	}
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		w.noIndex = true
		return bad("%v", err)
	}
	if e.Index != i {
		bad("the leaf says it is entry %d", e.Index)
	}
	w.at = e.ReceivedAt.AsTime()
	if w.at.Before(*lastTime) {
		w.notes = append(w.notes, fmt.Sprintf("received at %s, before the previous entry (%s)",
			w.at.Format(time.RFC3339Nano), lastTime.Format(time.RFC3339Nano)))
	}
	*lastTime = w.at
	env, err := envelope.Parse(e.Envelope)
	if err != nil {
		w.noIndex = true
		return bad("envelope: %v", err)
	}
	isAgreement := env.PayloadType == message.TypeAgreement
	var current *agreement.Agreement
	if n := len(c.history); n > 0 {
		current = c.history[n-1]
	}
	switch {
	case i == 0 && !isAgreement:
		w.noIndex = true
		return bad("entry 0 is a %s, not the genesis agreement", env.PayloadType)
	case current == nil && i > 0:
		return bad("no valid agreement precedes it")
	case i > 0:
		s, ok := c.certs[string(e.PeerCertificateSha256)]
		if !ok {
			w.noIndex = true
			return bad("signer certificate %x is not stored (or is damaged)", e.PeerCertificateSha256)
		}
		if !isAgreement {
			w.ag, w.cert, w.envelope = current, s.cert, e.Envelope
			return w
		}
		if _, err := entry.Admit(current, e.Envelope, s.cert, w.at); err != nil {
			return bad("%v", err)
		}
	}
	// The genesis agreement or an amendment.
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err == nil {
		err = message.Validate(p)
	}
	if err != nil {
		w.noIndex = true
		return bad("payload: %v", err)
	}
	ap := p.(*mvmv1.Agreement)
	if i == 0 {
		if g, err := agreement.Parse(ap, 0); err == nil {
			c.genesis = g // for the log key, even if a signature fails below
		}
	}
	next, err := workflow.Amend(current, env, ap, i, w.at)
	if err != nil {
		if i == 0 && c.genesis != nil {
			// Check what follows under the genesis as it reads, so that one
			// bad signature on it is one damage, not one per entry.
			c.history = append(c.history, c.genesis)
		}
		return bad("agreement: %v", err)
	}
	c.history = append(c.history, next)
	return w
}

// checkIndexRecords checks that the records rebuilding would write for
// entry i are stored.
func (c *checker) checkIndexRecords(i uint64, leaf []byte) {
	r, err := ledger.IndexRecords(i, leaf, c.author)
	if err != nil {
		if !c.damagedEntries[i] {
			c.damage(store.BucketEntries, fmt.Sprint(i), "index records: %v", err)
			c.damagedEntries[i] = true
		}
		return
	}
	if r.MsgID != nil {
		c.wantMsgIDs++
		v, ok := has(c.msgids, r.MsgID)
		switch {
		case !ok:
			c.reported[string(r.MsgID)] = true
			c.damage(store.BucketMsgIDs, msgIDKey(r.MsgID), "missing (entry %d)", i)
		case !bytes.Equal(v, u64(i)):
			c.reported[string(r.MsgID)] = true
			c.damage(store.BucketMsgIDs, msgIDKey(r.MsgID), "points to %s, the entry is %d", numKey(v), i)
		}
	}
	if r.Package != nil {
		c.wantPackages++
		v, ok := has(c.pkgs, r.Package)
		switch {
		case !ok:
			c.reported[string(r.Package)] = true
			c.damage(store.BucketPackages, packageKey(r.Package), "missing (entry %d)", i)
		case len(v) != 0:
			c.reported[string(r.Package)] = true
			c.damage(store.BucketPackages, packageKey(r.Package), "has a value (%d bytes); index records have none", len(v))
		}
	}
	if r.Agreement {
		c.wantAgreements = append(c.wantAgreements, i)
	}
}

// oldNodes is the bucket of the tree in the layout before hashes: one
// sub-bucket per level, named by the level's byte, keyed by index.
const oldNodes = "nodes"

// compareNode is the tree's visitor: every node the leaves complete must
// be stored as it is recomputed.
func (c *checker) compareNode(id tlog.NodeID, hash []byte) {
	c.rep.Nodes++
	var got []byte
	bucket, key := store.BucketHashes, nodeName(id)
	switch {
	case c.nodes != nil:
		got = c.nodes.Get(store.HashKey(id))
	case c.oldNodes != nil:
		bucket, key = fmt.Sprintf("%s/%d", oldNodes, id.Level), fmt.Sprint(id.Index)
		if lb := c.oldNodes.Bucket([]byte{byte(id.Level)}); lb != nil {
			got = lb.Get(u64(id.Index))
		}
	}
	switch {
	case got == nil:
		c.damage(bucket, key, "missing")
	case !bytes.Equal(got, hash):
		what := "the hash of entry"
		if id.Level > 0 {
			what = "the tree recomputed from entries"
		}
		first, last := id.Index<<id.Level, (id.Index+1)<<id.Level-1
		span := fmt.Sprintf("%d", first)
		if last != first {
			span = fmt.Sprintf("%d..%d", first, last)
		}
		c.damage(bucket, key, "stored hash %x differs from %s %s (%x): the node or an entry was altered", got, what, span, hash)
	}
}

// nodeName names a tree node in a damage report: level, index, and its key.
func nodeName(id tlog.NodeID) string {
	return fmt.Sprintf("level %d index %d (key %s)", id.Level, id.Index, numKey(store.HashKey(id)))
}

// checkNodeBuckets finds what compareNode cannot: nodes stored beyond the
// tree, and stray keys.
func (c *checker) checkNodeBuckets() {
	if c.oldNodes != nil {
		c.checkOldNodeBuckets()
	}
	if c.nodes == nil {
		return
	}
	_ = c.nodes.ForEach(func(k, v []byte) error {
		id, ok := store.HashID(k)
		switch {
		case !ok:
			c.damage(store.BucketHashes, numKey(k), "key is not a stored-hash index")
		case v == nil:
			c.damage(store.BucketHashes, nodeName(id), "is a bucket, not a hash")
		case id.Index >= c.size>>id.Level:
			c.damage(store.BucketHashes, nodeName(id), "beyond the tree of %d entries", c.size)
		case len(v) != tlog.HashSize:
			// compareNode reported it differs; say why.
			c.damage(store.BucketHashes, nodeName(id), "hash is %d bytes, not %d", len(v), tlog.HashSize)
		}
		return nil
	})
}

// checkOldNodeBuckets is checkNodeBuckets for the layout before hashes.
func (c *checker) checkOldNodeBuckets() {
	_ = c.oldNodes.ForEach(func(k, v []byte) error {
		if v != nil || len(k) != 1 || k[0] > 63 {
			c.damage(oldNodes, fmt.Sprintf("%q", k), "not a level bucket")
			return nil
		}
		level := uint(k[0])
		bucket := fmt.Sprintf("%s/%d", oldNodes, level)
		complete := c.size >> level
		_ = c.oldNodes.Bucket(k).ForEach(func(nk, nv []byte) error {
			i, ok := index(nk)
			switch {
			case !ok:
				c.damage(bucket, numKey(nk), "key is not an 8-byte index")
			case nv == nil:
				c.damage(bucket, numKey(nk), "is a bucket, not a hash")
			case i >= complete:
				c.damage(bucket, numKey(nk), "beyond the tree of %d entries", c.size)
			case len(nv) != tlog.HashSize:
				c.damage(bucket, numKey(nk), "hash is %d bytes, not %d", len(nv), tlog.HashSize)
			}
			return nil
		})
		return nil
	})
}

// verifyCheckpoint verifies a stored checkpoint against the log key of
// the genesis agreement and the recomputed root. It runs in parallel and
// only sets cw.problem.
func (c *checker) verifyCheckpoint(cw *cpWork) {
	if c.genesis == nil {
		cw.problem = "cannot be verified: entry 0 holds no readable agreement, so no log key"
		return
	}
	v, err := note.NewVerifier(c.genesis.LogKey)
	if err != nil {
		cw.problem = fmt.Sprintf("cannot be verified: the agreement's log_verifier_key: %v", err)
		return
	}
	cp, _, err := tlog.OpenCheckpoint(cw.signed, c.genesis.LogOrigin, v)
	switch {
	case err != nil:
		cw.problem = err.Error()
	case cp.Size != cw.size:
		cw.problem = fmt.Sprintf("the signed checkpoint is of size %d", cp.Size)
	case !bytes.Equal(cp.Hash, cw.root):
		cw.problem = fmt.Sprintf("signed root %x differs from the root recomputed from the entries (%x)", cp.Hash, cw.root)
	}
}

// --- indexes

func (c *checker) checkMsgIDs() {
	if c.msgids == nil {
		return
	}
	n := c.msgids.Stats().KeyN
	c.rep.MsgIDs = n
	if n == c.wantMsgIDs && !c.anyReported(store.BucketMsgIDs) {
		return // every expected record is there, so nothing else is
	}
	// Something is off: find the records no entry accounts for.
	_ = c.msgids.ForEach(func(k, v []byte) error {
		if c.reported[string(k)] {
			return nil
		}
		i, ok := index(v)
		switch {
		case !ok:
			c.damage(store.BucketMsgIDs, msgIDKey(k), "value %x is not an 8-byte index", v)
		case i >= c.size:
			c.damage(store.BucketMsgIDs, msgIDKey(k), "points to %d, beyond the log's %d entries", i, c.size)
		case c.damagedEntries[i]:
			// The entry is reported; what it should index is unknown.
		default:
			r, err := ledger.IndexRecords(i, c.entries.Get(u64(i)), c.author)
			if err == nil && !bytes.Equal(r.MsgID, k) {
				c.damage(store.BucketMsgIDs, msgIDKey(k), "points to entry %d, whose message id is %s", i, msgIDKey(r.MsgID))
			}
		}
		return nil
	})
}

func (c *checker) checkPackages() {
	if c.pkgs == nil {
		return
	}
	n := c.pkgs.Stats().KeyN
	c.rep.Packages = n
	if n == c.wantPackages && !c.anyReported(store.BucketPackages) {
		return
	}
	_ = c.pkgs.ForEach(func(k, v []byte) error {
		if c.reported[string(k)] {
			return nil
		}
		if len(k) < 10 || k[len(k)-9] != 0 {
			c.damage(store.BucketPackages, packageKey(k), "not a package id, 0, 8-byte index key")
			return nil
		}
		i := binary.BigEndian.Uint64(k[len(k)-8:])
		switch {
		case i >= c.size:
			c.damage(store.BucketPackages, packageKey(k), "points beyond the log's %d entries", c.size)
		case c.damagedEntries[i]:
		default:
			r, err := ledger.IndexRecords(i, c.entries.Get(u64(i)), c.author)
			if err == nil && !bytes.Equal(r.Package, k) {
				if r.Package == nil {
					c.damage(store.BucketPackages, packageKey(k), "entry %d belongs to no package", i)
				} else {
					c.damage(store.BucketPackages, packageKey(k), "entry %d belongs to package record %s", i, packageKey(r.Package))
				}
			}
		}
		return nil
	})
}

func (c *checker) anyReported(bucket string) bool {
	return c.listed[bucket] > 0 || c.rep.Omitted[bucket] > 0
}

func (c *checker) checkAgreements() {
	if c.ags == nil {
		return
	}
	var got []uint64
	_ = c.ags.ForEach(func(k, v []byte) error {
		c.rep.Agreements++
		i, ok := index(k)
		if !ok {
			c.damage(store.BucketAgreements, numKey(k), "key is not an 8-byte index")
			return nil
		}
		if len(v) != 0 {
			c.damage(store.BucketAgreements, numKey(k), "has a value (%d bytes); index records have none", len(v))
		}
		got = append(got, i)
		return nil
	})
	for _, i := range got {
		if !slices.Contains(c.wantAgreements, i) && !c.damagedEntries[i] {
			c.damage(store.BucketAgreements, fmt.Sprint(i), "entry %d is not an agreement", i)
		}
	}
	for _, i := range c.wantAgreements {
		if !slices.Contains(got, i) {
			c.damage(store.BucketAgreements, fmt.Sprint(i), "missing (entry %d is an agreement)", i)
		}
	}
}

func (c *checker) checkMeta() {
	if c.meta == nil {
		return
	}
	v := c.meta.Get([]byte(store.MetaSize))
	switch size, ok := index(v); {
	case !ok:
		c.damage(store.BucketMeta, store.MetaSize, "value %x is not an 8-byte size", v)
	case size != c.size:
		c.damage(store.BucketMeta, store.MetaSize, "says %d entries; the log has %d", size, c.size)
	}
	v = c.meta.Get([]byte(store.MetaAgreement))
	want, hasWant := uint64(0), len(c.wantAgreements) > 0
	if hasWant {
		want = c.wantAgreements[len(c.wantAgreements)-1]
	}
	switch ag, ok := index(v); {
	case v == nil && !hasWant:
	case v == nil:
		c.damage(store.BucketMeta, store.MetaAgreement, "missing (the agreement in force is entry %d)", want)
	case !ok:
		c.damage(store.BucketMeta, store.MetaAgreement, "value %x is not an 8-byte index", v)
	case !hasWant:
		c.damage(store.BucketMeta, store.MetaAgreement, "points to %d, but no entry is an agreement", ag)
	case ag != want:
		c.damage(store.BucketMeta, store.MetaAgreement, "points to %d; the agreement in force is entry %d", ag, want)
	}
}

// --- cosignatures

func (c *checker) checkCosignatures() {
	if c.cosigs == nil {
		return
	}
	// Cosigner verifier keys by name, from every agreement of the log.
	keys := map[string][]string{}
	for _, ag := range c.history {
		for _, ks := range ag.CosignerKeys() {
			for _, k := range ks {
				name, _, _ := strings.Cut(k, "+")
				if !slices.Contains(keys[name], k) {
					keys[name] = append(keys[name], k)
				}
			}
		}
	}
	_ = c.cosigs.ForEach(func(k, v []byte) error {
		c.rep.Cosignatures++
		if len(k) <= 8 {
			c.damage(store.BucketCosignatures, fmt.Sprintf("%x", k), "key is not an 8-byte size and a cosigner name")
			return nil
		}
		size, name := binary.BigEndian.Uint64(k[:8]), string(k[8:])
		key := fmt.Sprintf("%d/%s", size, name)
		var cp []byte
		if c.checkpoints != nil {
			cp = c.checkpoints.Get(k[:8])
		}
		if cp == nil {
			c.damage(store.BucketCosignatures, key, "no checkpoint of size %d is stored", size)
			return nil
		}
		ks := keys[name]
		if len(ks) == 0 {
			c.damage(store.BucketCosignatures, key, "no agreement of the log has a cosigner key named %q", name)
			return nil
		}
		var errs []error
		for _, vk := range ks {
			_, err := tlog.VerifyCosignature(cp, string(v), vk)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		c.damage(store.BucketCosignatures, key, "%v", errors.Join(errs...))
		return nil
	})
}
